"""report.html: one self-contained page (inline CSS, figures as data URIs) of a scored run.

The score card, the figures (analysis.plots), the before / during / after table, the criteria, the
grouped timeline and the backlog. Nothing outside the file is loaded, so it opens from a run
directory, an e-mail or a CI artefact alike.
"""

from __future__ import annotations

import base64
from html import escape

from analysis.analyse import Analysis, host_text
from analysis.backlog import Item
from analysis.plots import alerts_figure, availability_figure, host_figure, latency_figure, pods_figure
from analysis.record import RunData
from analysis.score import ScoreCard
from analysis.score_render import headline
from analysis.summary import cell, fmt, fmt_interval, observed_text
from analysis.timeline import moments
from chaos.metrics import PHASED_METRICS

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #202124; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #dadce0; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { border: 1px solid #dadce0; padding: 0.25rem 0.5rem; text-align: left; }
th { background: #f1f3f4; }
.pass { background: #e6f4ea; } .marginal { background: #fef7e0; } .fail { background: #fce8e6; }
.scores { display: flex; gap: 1rem; } .score { padding: 0.75rem 1.25rem; border-radius: 8px; }
.score b { font-size: 1.8rem; display: block; }
img { width: 100%; max-width: 1000px; display: block; margin: 0.5rem 0; }
"""


def render_html(data: RunData, analysis: Analysis, card: ScoreCard, items: list[Item], title: str) -> str:
    e = data.experiment
    status = str(analysis.status(data.status))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(e.title)}: {escape(status)}</h1>",
        f"<p>{escape(headline(card))}</p>",
        _scores(card),
    ]
    observation = analysis.observation
    if observation is not None:
        origin = data.origin or 0.0
        figures = (
            ("latency", latency_figure(observation, data.forecast)),
            ("availability", availability_figure(observation, data.forecast)),
            ("pods", pods_figure(observation, data.forecast, data.events, origin)),
            ("alerts", alerts_figure(observation, analysis.alerts, origin)),
            ("host", host_figure(observation, data.signals.host_cpu if data.signals else None, origin)),
        )
        parts.append("<h2>Over time</h2>")
        parts += [_image(name, png) for name, png in figures if png is not None]
        parts += ["<h2>Before, during, after</h2>", _phases(analysis)]
        host = host_text(data)
        parts += [f"<p>{escape(host)}</p>"] if host else []
    parts += ["<h2>Prediction score card</h2>", _metrics(card), _alerts(card)]
    parts += ["<h2>Success criteria</h2>", _criteria(analysis)]
    parts += ["<h2>Issues and improvement backlog</h2>", _backlog(items)]
    parts += ["<h2>Timeline</h2>", _timeline(data)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _scores(card: ScoreCard) -> str:
    conf, res = card.confidence, card.resilience
    grade = str(card.confidence_grade) if card.confidence_grade else "marginal"
    return (
        '<div class="scores">'
        f'<div class="score {grade}" id="confidence">prediction confidence'
        f"<b>{'n/a' if conf is None else f'{conf:.0f}'}</b></div>"
        f'<div class="score" id="resilience">resilience<b>{"n/a" if res is None else f"{res:.0f}"}</b></div>'
        "</div>"
    )


def _image(name: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="plot" id="plot-{name}" alt="{name} over time" src="data:image/png;base64,{data}">'


def _table(head: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    return "\n".join(out) + "</table>"


def _phases(analysis: Analysis) -> str:
    observation = analysis.observation
    assert observation is not None
    phases = observation.phases
    rows = [["requests", *(str(p.requests) for p in phases)]]
    for metric in PHASED_METRICS:
        rows.append([metric, *(cell(p, metric) for p in phases)])
    return _table(["metric", *(p.name for p in phases)], rows)


def _metrics(card: ScoreCard) -> str:
    if not card.metrics:
        return "<p>No prediction was recorded for this run: nothing to score.</p>"
    rows, classes = [], []
    for m in card.metrics:
        p = m.predicted
        rows.append(
            [
                m.metric + (" *" if m.critical else ""),
                m.phase or "run",
                fmt_interval(m.metric, m.observed, m.observed_low, m.observed_high),
                fmt_interval(m.metric, p.point, p.low, p.high),
                fmt(m.metric, m.error),
                "yes" if m.inside else "no",
                f"{m.interval_score:.4g}",
                str(m.grade),
            ]
        )
        classes.append(str(m.grade))
    head = [
        "metric",
        "phase",
        "observed",
        "predicted (90 % PI)",
        "error",
        "inside",
        "interval score",
        "grade",
    ]
    return _table(head, rows, classes)


def _alerts(card: ScoreCard) -> str:
    if not card.alerts:
        return ""
    rows = []
    for a in card.alerts:
        p = a.predicted_first
        first = "-" if p is None or p.point is None else f"{p.point:.0f} s"
        observed = "-" if a.observed_first is None else f"{a.observed_first:.0f} s"
        rows.append(
            [a.name, f"{a.probability:.0%}", "yes" if a.fired else "no", first, observed, str(a.grade)]
        )
    head = ["alert", "P(fires)", "fired", "first fire predicted", "observed", "grade"]
    return _table(head, rows, [str(a.grade) for a in card.alerts])


def _criteria(analysis: Analysis) -> str:
    rows, classes = [], []
    for r in analysis.verdict.results:
        rows.append([r.name, observed_text(r), "pass" if r.passed else "fail", r.note])
        classes.append("pass" if r.passed else "fail")
    return _table(["criterion", "observed", "result", "note"], rows, classes)


def _backlog(items: list[Item]) -> str:
    if not items:
        return "<p>Nothing to improve was found by the rules.</p>"
    return _table(["priority", "issue", "action"], [[str(i.priority), i.issue, i.action] for i in items])


def _timeline(data: RunData) -> str:
    origin = data.origin if data.origin is not None else 0.0
    grouped = moments(list(data.events), data.experiment.system.service.replicas)
    return _table(["t (s from start)", "event"], [[m.when(origin), m.text] for m in grouped])
