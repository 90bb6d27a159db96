"""summary.md of a run: before/during/after, predicted vs observed, criteria, abort, rollback, timeline.

Pure: takes the run's data, returns markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analysis.observed import Observation, PhaseObservation
from analysis.timeline import moments
from analysis.verdict import CriterionResult, Verdict, inside
from chaos.metrics import METRICS, PHASED_METRICS, PHASES
from chaos.record import Event
from chaos.spec import Experiment
from sim.forecast import format_value
from sim.forecast_summary import ForecastSummary

TABLE_METRICS = PHASED_METRICS
_UNITS = {"fraction": ("percent", 100.0, " %"), "seconds": ("ms", 1000.0, " ms"), "rps": ("rps", 1.0, " rps")}


_TRIP_SOURCES = {
    "pods": "First circuit breaker trip (the pods' record)",
    "answers": "First answer reporting an open circuit breaker (the pods kept no record of their trips)",
}


def fmt(metric: str, value: float | None) -> str:
    """A metric value in the unit people read it in (percent, ms, rps, pods, s)."""
    if value is None:
        return "n/a"
    if metric == "recovery_time":
        return f"{format_value(value, 's')} s"
    unit = METRICS[metric].unit if metric in METRICS else "pods"
    kind, scale, suffix = _UNITS.get(unit, ("pods", 1.0, ""))
    return format_value(value * scale, kind) + suffix


def fmt_interval(metric: str, value: float | None, low: float | None, high: float | None) -> str:
    text = fmt(metric, value)
    if low is None or high is None:
        return text
    return f"{text} [{fmt(metric, low).split(' ')[0]}, {fmt(metric, high)}]"


def render_summary(
    experiment: Experiment,
    info: dict[str, Any],
    observation: Observation | None,
    verdict: Verdict,
    forecast: ForecastSummary | None,
    events: Sequence[Event],
    host: str | None = None,
) -> str:
    """`host`: analysis.host's paragraph on the machine's CPU, put under the phase table."""
    origin = info.get("origin")
    out = [f"# {experiment.title}: {info['status']}", ""]
    out += _overview(experiment, info)
    filled = forecast.filled if forecast is not None else None
    statement = filled or experiment.hypothesis.statement + " (no prediction filled its blanks)"
    out += ["", "## Hypothesis", "", statement]
    out += ["", "## Before, during, after (observed, 90 % intervals)", ""]
    out += phase_table(observation) if observation else ["The load never started: nothing was observed."]
    out += ["", host] if host else []
    out += ["", "## Predicted vs observed", ""]
    out += _prediction_table(observation, forecast)
    out += ["", "## Success criteria", ""]
    out += criteria_table(verdict)
    out += ["", "## Timeline", ""]
    out += timeline_table(events, origin, experiment.system.service.replicas)
    return "\n".join(out) + "\n"


def _overview(experiment: Experiment, info: dict[str, Any]) -> list[str]:
    phases = ", ".join(f"{n} {e - s:g} s" for n, (s, e) in experiment.phases.bounds().items())
    lines = [
        f"- experiment: `{experiment.name}` ({info['experiment']['source']})",
        f"- started: {info.get('originUtc') or 'never (the load did not start)'}; phases: {phases}",
        f"- status: **{info['status']}**" + (f" ({info['reason']})" if info.get("reason") else ""),
    ]
    origin = info.get("origin")
    for chaos in info.get("chaos", []):
        at = chaos["injectedAt"] - origin if origin is not None else None
        ended = chaos["endedAt"] - origin if origin is not None and chaos["endedAt"] is not None else None
        lines.append(
            f"- chaos: {chaos['action']} ({chaos['chaos']}) on {', '.join(chaos['targets']) or 'nothing'}, "
            f"injected at {_rel(at)}, ended at {_rel(ended)}"
        )
    if not info.get("chaos"):
        lines.append("- chaos: none was injected")
    steady = info.get("steadyState")
    if steady:
        values = ", ".join(f"{m} {fmt(m, v)}" for m, v in steady["values"].items())
        verdict = "held" if steady["holds"] else "did not hold: " + "; ".join(steady["failures"])
        lines.append(f"- steady state before injection ({steady['requests']} requests; {values}): {verdict}")
    abort = info.get("abort")
    lines.append(f"- abort: {abort['detail'] if abort else 'no abort condition fired'}")
    rollback = info["rollback"]
    lines.append(
        "- rollback: "
        + (
            "done, nothing left injected"
            if rollback["done"]
            else "INCOMPLETE: " + "; ".join(rollback["errors"]) + " (run `chaoslab cleanup`)"
        )
    )
    if experiment.rollback.steps:
        lines.append("- rollback plan (spec): " + " / ".join(experiment.rollback.steps))
    lines += [f"- warning: {w}" for w in info.get("warnings", [])]
    lines += [f"- problem: {p}" for p in info.get("problems", [])]
    return lines


def _rel(t: float | None) -> str:
    return "-" if t is None else f"{t:.1f} s"


def phase_table(observation: Observation) -> list[str]:
    phases = [p for p in (observation.phase(n) for n in PHASES) if p is not None]
    lines = ["| metric | " + " | ".join(f"{p.name} ({p.end - p.start:g} s)" for p in phases) + " |"]
    lines.append("|---|" + "---|" * len(phases))
    lines.append("| requests | " + " | ".join(str(p.requests) for p in phases) + " |")
    for metric in TABLE_METRICS:
        lines.append(f"| {metric} | " + " | ".join(cell(p, metric) for p in phases) + " |")
    lines += [
        "",
        f"Time to recover (pods ready and availability back at the baseline level, as chaos/recovery.py "
        f"defines it): {fmt('recovery_time', observation.recovery_time)}; every desired pod ready "
        f"{fmt('recovery_time', observation.pods_ready_after)} after the last fault ended. "
        f"{_TRIP_SOURCES.get(observation.breaker_trip_source, 'First breaker trip')}: "
        f"{fmt('breaker_first_trip', observation.breaker_first_trip)} after the fault began.",
    ]
    return lines


def cell(phase: PhaseObservation, metric: str) -> str:
    """A phase's observed metric with its interval, as the tables show it."""
    v = phase.values.get(metric)
    return "n/a" if v is None else fmt_interval(metric, v.value, v.low, v.high)


def _prediction_table(observation: Observation | None, forecast: ForecastSummary | None) -> list[str]:
    if forecast is None:
        return ["No prediction was made for this run (`--no-predict`)."]
    prediction = forecast.prediction
    lines = ["| metric | phase | predicted (90 % PI) | observed | inside |", "|---|---|---|---|---|"]
    for metric in (*TABLE_METRICS, "breaker_first_trip", "recovery_time"):
        phases: tuple[str | None, ...] = (None,) if metric in prediction.run_metrics else PHASES
        for phase in phases:
            predicted = prediction.metric(metric, phase)
            if predicted is None:
                continue
            observed = observation.metric(metric, phase) if observation else None
            verdict = inside(observed, predicted)
            shown = "-" if verdict is None else ("yes" if verdict else "no")
            lines.append(
                f"| {metric} | {phase or 'run'} "
                f"| {fmt_interval(metric, predicted.point, predicted.low, predicted.high)} "
                f"| {fmt(metric, observed)} | {shown} |"
            )
    return lines


def criteria_table(verdict: Verdict) -> list[str]:
    if not verdict.results:
        return ["The experiment has no success criteria."]
    lines = ["| criterion | observed | predicted | result | inside prediction |", "|---|---|---|---|---|"]
    for r in verdict.results:
        metric = r.metric or ""
        observed = observed_text(r)
        p = r.predicted
        predicted = fmt_interval(metric, p.point, p.low, p.high) if p else "-"
        inside = "-" if r.inside is None else ("yes" if r.inside else "no")
        result = "pass" if r.passed else "**fail**" + (f" ({r.note})" if r.note else "")
        lines.append(f"| {r.name} | {observed} | {predicted} | {result} | {inside} |")
    return lines


def observed_text(r: CriterionResult) -> str:
    """What a criterion observed, as people read it: a value in its unit, or the names listed."""
    if isinstance(r.observed, float | int) and not isinstance(r.observed, bool):
        return fmt(r.metric or "", float(r.observed))
    if isinstance(r.observed, list):
        return ", ".join(map(str, r.observed)) or "none"
    return "n/a"


def timeline_table(events: Sequence[Event], origin: float | None, desired: int | None = None) -> list[str]:
    """The timeline, pod events grouped (analysis.timeline)."""
    base = origin if origin is not None else (events[0].time if events else 0.0)
    lines = ["| t (s from start) | event |", "|---|---|"]
    lines += [f"| {m.when(base)} | {m.text} |" for m in moments(events, desired)]
    return lines
