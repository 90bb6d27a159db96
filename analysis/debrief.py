"""The GameDay debrief: per scenario what worked and what failed, response times against targets,
technical issues, process improvements and action items with owners, from the recorded runs alone.

Response times of a scenario (from its run record, unix seconds):
- fault to first alert: the first alert Prometheus had firing at or after the first injection
  (its ALERTS series), else the first alert the on-call saw live (`alert-noticed`); none: missed;
- alert to mitigation: to the `mitigate` event (the on-call's rollback, by hand or automatic); a
  scenario nobody mitigated was rolled back by the runner at the end of its chaos phase, which the
  debrief says, measuring to that rollback;
- mitigation to recovery: the run's `recovery_time` (from the end of the chaos to steady state).

Rules (each fills one line; `targets` are the GameDay's):

| finding | section | owner |
|---|---|---|
| a success criterion held / failed | worked / failed | - |
| a backlog item of the run (analysis.backlog) | technical issue, action | ml-engineer (model items), sre |
| no alert fired | process: the on-call had nothing to act on | on-call |
| first alert later than `targets.alert` | process: the alert is late | sre |
| nobody mitigated before the chaos phase ended | process: mitigation did not happen | on-call |
| mitigation later than `targets.mitigation` after the alert | process: the response was slow | on-call |
| recovery longer than `targets.recovery` | technical: recovery is slow | sre |

Pure: run data in, a Debrief out; analysis.debrief_render writes it as markdown and HTML.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from analysis.analyse import Analysis, analyse
from analysis.backlog import Item, backlog
from analysis.record import RunData, RunRecordReadError
from analysis.score import score_run
from chaos.gameday import Participant, Targets, owner_of
from chaos.record import EventKind

MODEL_WORDS = ("model", "wrong", "prediction")


@dataclass(frozen=True)
class ResponseTimes:
    """Seconds; None where the step did not happen."""

    to_alert: float | None
    first_alert: str | None
    to_mitigation: float | None
    mitigated_by: str  # "on-call" | "automatic" | "runner (end of the chaos phase)" | "-"
    to_recovery: float | None


@dataclass(frozen=True)
class Action:
    what: str
    owner: str
    priority: str


@dataclass(frozen=True)
class ScenarioDebrief:
    name: str
    experiment: str
    record: str
    status: str
    worked: tuple[str, ...]
    failed: tuple[str, ...]
    times: ResponseTimes
    technical: tuple[str, ...]
    process: tuple[str, ...]
    actions: tuple[Action, ...]
    prediction_confidence: float | None = None
    resilience: float | None = None


@dataclass(frozen=True)
class Debrief:
    title: str
    day: date
    participants: tuple[Participant, ...]
    targets: Targets
    scenarios: tuple[ScenarioDebrief, ...] = field(default_factory=tuple)

    @property
    def actions(self) -> list[Action]:
        return [a for s in self.scenarios for a in s.actions]


def response_times(data: RunData, analysis: Analysis) -> ResponseTimes:
    fault = data.fault_start
    if fault is None:
        return ResponseTimes(None, None, None, "-", None)
    firing = sorted((a.start, a.name) for a in analysis.alerts if a.start >= fault - 1.0)
    noticed = [e for e in data.events if e.kind == EventKind.ALERT_NOTICED]
    first_at, first_name = (firing[0][0], firing[0][1]) if firing else (None, None)
    if first_at is None and noticed:
        first_at, first_name = noticed[0].time, str(noticed[0].detail.get("alert", "?"))
    mitigations = [e for e in data.events if e.kind == EventKind.MITIGATE]
    if mitigations:
        mitigated_at: float | None = mitigations[0].time
        by = str(mitigations[0].detail.get("by", "on-call"))
    else:
        mitigated_at, by = data.fault_end, "runner (end of the chaos phase)"
    to_mitigation = None
    if mitigated_at is not None:
        to_mitigation = max(0.0, mitigated_at - (first_at if first_at is not None else fault))
    observation = analysis.observation
    return ResponseTimes(
        to_alert=None if first_at is None else max(0.0, first_at - fault),
        first_alert=first_name,
        to_mitigation=to_mitigation,
        mitigated_by=by,
        to_recovery=observation.recovery_time if observation is not None else None,
    )


def scenario_debrief(
    name: str,
    record: str,
    data: RunData,
    analysis: Analysis,
    participants: Sequence[Participant],
    targets: Targets,
) -> ScenarioDebrief:
    card = score_run(data, analysis, record)
    items = backlog(data, analysis, card)
    times = response_times(data, analysis)
    results = analysis.verdict.results
    worked = tuple(r.name for r in results if r.passed)
    failed = tuple(r.name for r in results if not r.passed)
    technical = [f"{i.issue} ({i.priority})" for i in items]
    actions = [_action(i, participants) for i in items]
    process: list[str] = []
    sre, on_call = owner_of(participants, "sre"), owner_of(participants, "on-call")

    def add(line: str, owner: str, priority: str, tech: bool = False) -> None:
        (technical if tech else process).append(line)
        actions.append(Action(line, owner, priority))

    if times.to_alert is None:
        add("no alert fired: the on-call had nothing to act on", on_call, "high")
    elif times.to_alert > targets.alert:
        add(
            f"the first alert ({times.first_alert}) fired {times.to_alert:.0f} s after the fault, "
            f"over the {targets.alert:.0f} s target: shorten its `for` or lower its threshold",
            sre,
            "medium",
        )
    if times.mitigated_by.startswith("runner"):
        add("nobody mitigated before the chaos phase ended: check paging and the runbook", on_call, "high")
    elif times.to_mitigation is not None and times.to_mitigation > targets.mitigation:
        add(
            f"mitigation took {times.to_mitigation:.0f} s after the alert, over the "
            f"{targets.mitigation:.0f} s target: practise the runbook or automate the rollback",
            on_call,
            "medium",
        )
    if times.to_recovery is not None and times.to_recovery > targets.recovery:
        add(
            f"recovery took {times.to_recovery:.0f} s, over the {targets.recovery:.0f} s target",
            sre,
            "medium",
            tech=True,
        )
    return ScenarioDebrief(
        name=name,
        experiment=data.experiment.name,
        record=record,
        status=str(analysis.status(data.status)),
        worked=worked,
        failed=failed,
        times=times,
        technical=tuple(technical),
        process=tuple(process),
        actions=tuple(actions),
        prediction_confidence=card.confidence,
        resilience=card.resilience,
    )


def _action(item: Item, participants: Sequence[Participant]) -> Action:
    text = f"{item.issue} {item.action}".lower()
    role = "ml-engineer" if any(w in text for w in MODEL_WORDS) else "sre"
    return Action(item.action, owner_of(participants, role), str(item.priority))


INDEX = "gameday.json"
"""The GameDay's own record: what was planned and where each scenario's run record is."""


def read_debrief(folder: Path) -> Debrief:
    """The debrief of the GameDay recorded in `folder` (its gameday.json and the run records)."""
    path = folder / INDEX
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunRecordReadError(f"{path}: {exc}") from exc
    participants = tuple(Participant(p["name"], p["role"]) for p in index["participants"])
    targets = Targets(**{k: float(v) for k, v in index["targets"].items()})
    scenarios = []
    for entry in index["scenarios"]:
        record = folder / entry["record"]
        data = RunData.load(record)
        scenarios.append(
            scenario_debrief(entry["name"], entry["record"], data, analyse(data), participants, targets)
        )
    return Debrief(index["title"], date.fromisoformat(index["date"]), participants, targets, tuple(scenarios))


__all__ = [
    "INDEX",
    "Action",
    "Debrief",
    "ResponseTimes",
    "ScenarioDebrief",
    "read_debrief",
    "response_times",
    "scenario_debrief",
]
