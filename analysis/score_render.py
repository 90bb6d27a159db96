"""Score cards and coverage as people read them (markdown, plain text) and as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from analysis.alert_score import AlertScore
from analysis.coverage import CoverageRow
from analysis.score import CRITICAL_CAP, MARGINAL_AT, PASS_AT, MetricScore, ScoreCard
from analysis.summary import fmt, fmt_interval
from chaos.record import finite

FORMATS = ("text", "json", "markdown")


def render_scores(
    cards: Sequence[ScoreCard],
    rows: Sequence[CoverageRow],
    fmt_: str,
    hindcast_rows: Sequence[CoverageRow] = (),
) -> str:
    """Score cards, then the coverage over the runs (a-priori, and the hindcasts' when given)."""
    several = len(rows) > 0 and max(r.runs for r in rows) > 1
    if fmt_ == "json":
        data: dict[str, Any] = {"runs": [c.to_dict() for c in cards]}
        if several:
            data["coverage"] = [r.to_dict() for r in rows]
        if hindcast_rows:
            data["hindcastCoverage"] = [r.to_dict() for r in hindcast_rows]
        return json.dumps(finite(data), indent=2, allow_nan=False) + "\n"
    lines: list[str] = []
    for card in cards:
        lines += score_card_lines(card)
        lines.append("")
    if several:
        lines += coverage_lines(rows)
    if hindcast_rows and max(r.runs for r in hindcast_rows) > 1:
        lines += ["", *coverage_lines(hindcast_rows, "Calibration of the hindcasts over the runs")]
    text = "\n".join(lines).rstrip() + "\n"
    return text if fmt_ == "markdown" else _plain(text)


def headline(card: ScoreCard) -> str:
    """One line: both scores and their bands."""
    confidence = card.confidence
    band = card.confidence_grade
    conf = "n/a (no prediction)" if confidence is None else f"{confidence:.0f}/100 ({band})"
    res = "n/a" if card.resilience is None else f"{card.resilience:.0f}/100"
    return f"prediction confidence {conf}; resilience {res}"


def score_card_lines(card: ScoreCard) -> list[str]:
    out = [f"## Score: {card.run or card.experiment}", "", f"- {headline(card)}"]
    capped = [m for m in card.metrics if m.critical and m.grade == "fail"]
    if capped:
        names = ", ".join(_where(m) for m in capped)
        out.append(f"- capped at {CRITICAL_CAP:g}: a critical metric failed ({names})")
    out.append(f"- bands: pass >= {PASS_AT:g}, marginal >= {MARGINAL_AT:g}; critical metrics (*) weigh 3")
    if card.metrics:
        out += [
            "",
            "| metric | phase | observed | predicted (90 % PI) | error | inside | interval score | grade |",
        ]
        out.append("|---|---|---|---|---|---|---|---|")
        out += [_metric_row(m) for m in card.metrics]
    elif not card.predicted:
        out += ["", "No prediction was recorded for this run: nothing to score against."]
    if card.alerts:
        out += ["", "| alert | P(fires) | fired | first fire predicted | observed | Brier | grade |"]
        out.append("|---|---|---|---|---|---|---|")
        out += [_alert_row(a) for a in card.alerts]
    if card.distributions:
        out += ["", "| latency distribution | requests | KS D | P(observed slower) | Wasserstein |"]
        out.append("|---|---|---|---|---|")
        for phase, d in card.distributions.items():
            out.append(
                f"| {phase} | {d.observed} | {d.ks_statistic:.3f} | {d.prob_observed_slower:.2f} "
                f"| {d.wasserstein * 1000:.1f} ms |"
            )
    if card.criteria:
        out += ["", "| criterion | held | margin | credit |", "|---|---|---|---|"]
        for c in card.criteria:
            margin = "-" if c.margin is None else f"{c.margin:.0%}"
            out.append(f"| {c.name} | {'yes' if c.passed else 'no'} | {margin} | {c.credit:.2f} |")
    return out


def coverage_lines(
    rows: Sequence[CoverageRow], title: str = "Calibration of the predictor over the runs"
) -> list[str]:
    out = [f"## {title}", ""]
    out.append(
        "| metric | phase | runs | inside 90 % PI [90 % CI] | mean width | mean abs error | mean rel error "
        "| passes |"
    )
    out.append("|---|---|---|---|---|---|---|---|")
    for r in rows:
        rel = "-" if r.mean_relative_error is None else f"{r.mean_relative_error:.1%}"
        low, high = r.coverage_interval
        out.append(
            f"| {r.metric} | {r.phase or 'run'} | {r.runs} "
            f"| {r.coverage:.0%} ({r.covered}/{r.runs}) [{low:.0%}, {high:.0%}] "
            f"| {fmt(r.metric, r.mean_width)} | {fmt(r.metric, r.mean_abs_error)} | {rel} | {r.passes} |"
        )
    return out


def _where(m: MetricScore) -> str:
    return f"{m.metric} ({m.phase})" if m.phase else m.metric


def _metric_row(m: MetricScore) -> str:
    p = m.predicted
    observed = fmt_interval(m.metric, m.observed, m.observed_low, m.observed_high)
    rel = "" if m.relative_error is None else f" ({m.relative_error:+.1%})"
    error = ("+" if m.error > 0 else "") + fmt(m.metric, m.error) + rel
    return (
        f"| {m.metric}{' *' if m.critical else ''} | {m.phase or 'run'} | {observed} "
        f"| {fmt_interval(m.metric, p.point, p.low, p.high)} | {error} | {'yes' if m.inside else 'no'} "
        f"| {m.interval_score:.4g} | {m.grade} |"
    )


def _alert_row(a: AlertScore) -> str:
    p = a.predicted_first
    first = "-" if p is None or p.point is None else f"{p.point:.0f} s [{p.low:.0f}, {p.high:.0f}]"
    observed = "-" if a.observed_first is None else f"{a.observed_first:.0f} s"
    return (
        f"| {a.name}{' *' if a.critical else ''} | {a.probability:.0%} | {'yes' if a.fired else 'no'} "
        f"| {first} | {observed} | {a.brier:.2f} | {a.grade} |"
    )


def _plain(markdown: str) -> str:
    """Markdown tables and headings as plain text (the same rows, without the table rules)."""
    lines = []
    for line in markdown.splitlines():
        if line.startswith("|---"):
            continue
        if line.startswith("## "):
            line = line[3:]
        lines.append(line)
    return "\n".join(lines) + "\n"
