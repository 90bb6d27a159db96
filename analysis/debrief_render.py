"""The GameDay debrief as `gameday.md` and a self-contained `gameday.html` (analysis.debrief fills it).

Both hold the same sections: participants, per scenario the outcome, what worked and what failed,
response times against the targets, technical issues and process improvements, then every action
item with its owner, and free-text fields the team fills in after the meeting.
"""

from __future__ import annotations

from html import escape

from analysis.debrief import Debrief, ScenarioDebrief
from analysis.report_html import STYLE

FREE_TEXT = (
    "What surprised us",
    "What we will do differently next time",
    "Open questions",
)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _times_rows(s: ScenarioDebrief, d: Debrief) -> list[tuple[str, str, str, str]]:
    t, g = s.times, d.targets
    alert = f"{_s(t.to_alert)} ({t.first_alert})" if t.first_alert else "no alert fired"

    def verdict(value: float | None, target: float) -> str:
        return "missed" if value is None else ("met" if value <= target else "missed")

    return [
        ("fault to first alert", alert, _s(g.alert), verdict(t.to_alert, g.alert)),
        (
            "alert to mitigation",
            f"{_s(t.to_mitigation)} ({t.mitigated_by})",
            _s(g.mitigation),
            "missed" if t.mitigated_by.startswith("runner") else verdict(t.to_mitigation, g.mitigation),
        ),
        ("mitigation to recovery", _s(t.to_recovery), _s(g.recovery), verdict(t.to_recovery, g.recovery)),
    ]


def render_markdown(d: Debrief) -> str:
    out = [f"# GameDay debrief: {d.title}", "", f"Date: {d.day.isoformat()}", "", "## Participants", ""]
    out += [f"- {p.name} ({p.role})" for p in d.participants]
    for index, s in enumerate(d.scenarios, start=1):
        out += [
            "",
            f"## Scenario {index}: {s.name}",
            "",
            f"Experiment `{s.experiment}`, run record `{s.record}`: **{s.status}**; prediction "
            f"confidence {_score(s.prediction_confidence)}, resilience {_score(s.resilience)}.",
            "",
            "What worked:",
            *([f"- {w}" for w in s.worked] or ["- (nothing held)"]),
            "",
            "What failed:",
            *([f"- {f}" for f in s.failed] or ["- (nothing)"]),
            "",
            "| response time | observed | target | |",
            "|---|---|---|---|",
            *(f"| {a} | {b} | {c} | {v} |" for a, b, c, v in _times_rows(s, d)),
            "",
            "Technical issues found:",
            *([f"- {t}" for t in s.technical] or ["- none"]),
            "",
            "Process improvements:",
            *([f"- {p}" for p in s.process] or ["- none"]),
        ]
    out += ["", "## Action items", "", "| priority | action | owner |", "|---|---|---|"]
    out += [f"| {a.priority} | {a.what} | {a.owner} |" for a in d.actions] or ["| - | none | - |"]
    out += ["", "## Notes from the team", ""]
    for title in FREE_TEXT:
        out += [f"### {title}", "", "_to be filled in by the team_", ""]
    return "\n".join(out).rstrip() + "\n"


def _list(items: tuple[str, ...] | list[str], empty: str) -> str:
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in (items or [empty])) + "</ul>"


def render_html(d: Debrief) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>GameDay debrief: {escape(d.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>GameDay debrief: {escape(d.title)}</h1>",
        f"<p>Date: {d.day.isoformat()}</p><h2>Participants</h2>",
        _list([f"{p.name} ({p.role})" for p in d.participants], "nobody"),
    ]
    for index, s in enumerate(d.scenarios, start=1):
        rows = "".join(
            f'<tr class="{"pass" if v == "met" else "fail"}"><td>{escape(a)}</td><td>{escape(b)}</td>'
            f"<td>{escape(c)}</td><td>{v}</td></tr>"
            for a, b, c, v in _times_rows(s, d)
        )
        parts += [
            f'<h2 id="scenario-{index}">Scenario {index}: {escape(s.name)}</h2>',
            f"<p>Experiment <code>{escape(s.experiment)}</code>, run record <code>{escape(s.record)}</code>: "
            f"<b>{escape(s.status)}</b>; prediction confidence {_score(s.prediction_confidence)}, "
            f"resilience {_score(s.resilience)}.</p>",
            "<h3>What worked</h3>",
            _list(s.worked, "(nothing held)"),
            "<h3>What failed</h3>",
            _list(s.failed, "(nothing)"),
            "<table><tr><th>response time</th><th>observed</th><th>target</th><th></th></tr>"
            + rows
            + "</table>",
            "<h3>Technical issues found</h3>",
            _list(s.technical, "none"),
            "<h3>Process improvements</h3>",
            _list(s.process, "none"),
        ]
    rows = "".join(
        f"<tr><td>{escape(a.priority)}</td><td>{escape(a.what)}</td><td>{escape(a.owner)}</td></tr>"
        for a in d.actions
    )
    parts += [
        "<h2>Action items</h2>",
        "<table><tr><th>priority</th><th>action</th><th>owner</th></tr>" + rows + "</table>",
        "<h2>Notes from the team</h2>",
    ]
    for title in FREE_TEXT:
        parts.append(f"<h3>{escape(title)}</h3><p><i>to be filled in by the team</i></p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


__all__ = ["render_html", "render_markdown"]
