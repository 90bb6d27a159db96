"""The GameDay document (experiments/gameday.yaml): when, who, and the scenarios in their slots.

A GameDay runs experiment specs one after another, each in its time slot, with the team watching:
`participants` (name and role), `scenarios` (a name, the experiment spec, the slot's length),
response-time `targets` (fault to first alert, alert to mitigation, mitigation to recovery) and how
mitigation happens without a person at the terminal (`mitigation.automaticAfter`: seconds after
the first alert). `workflow` names the Chaos Mesh Workflow that runs the same GameDay on a cluster.
Validated like every document: file, field and value for each problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from chaos.documents import path_problem, read_document
from chaos.errors import InvalidSpecError, Problem
from chaos.fields import Fields
from chaos.spec import Experiment, load_experiment
from chaos.system import API_VERSION

ROLES = ("ml-engineer", "sre", "on-call", "facilitator", "observer")


@dataclass(frozen=True)
class Participant:
    name: str
    role: str


@dataclass(frozen=True)
class Scenario:
    name: str
    experiment: Experiment
    slot: float


@dataclass(frozen=True)
class Targets:
    """Response-time targets, seconds."""

    alert: float
    mitigation: float
    recovery: float


@dataclass(frozen=True)
class GameDay:
    name: str
    title: str
    source: Path
    day: date
    participants: tuple[Participant, ...]
    scenarios: tuple[Scenario, ...]
    targets: Targets
    automatic_after: float
    workflow: Path | None = None

    def owner(self, role: str) -> str:
        return owner_of(self.participants, role)


def owner_of(participants: Sequence[Participant], role: str) -> str:
    """The first participant with `role` (the first participant when nobody has it; "-": nobody)."""
    for p in participants:
        if p.role == role:
            return p.name
    return participants[0].name if participants else "-"


def load_gameday(path: Path) -> GameDay:
    problems: list[Problem] = []
    gameday = parse_gameday(read_document(path), path, problems)
    if problems or gameday is None:
        raise InvalidSpecError(problems)
    return gameday


def parse_gameday(data: object, path: Path, problems: list[Problem]) -> GameDay | None:
    doc = Fields(data, str(path), "", problems)
    doc.text("apiVersion", choices=(API_VERSION,))
    doc.text("kind", choices=("GameDay",))
    meta = doc.section("metadata")
    name = meta.text("name", pattern=r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
    title = meta.text("title", default=name)
    meta.finish()
    spec = doc.section("spec")
    day = _date(spec)
    participants = []
    for item in spec.items("participants"):
        participants.append(Participant(item.text("name"), item.text("role", choices=ROLES)))
        item.finish()
    if not participants:
        spec.problem("participants", [], "must name at least one participant")
    scenarios = []
    for item in spec.items("scenarios"):
        scenario_name = item.text("name")
        ref = item.text("experiment")
        slot = item.duration("slot", positive=True)
        item.finish()
        target = path.parent / ref
        reason = path_problem(target) if ref else None
        if reason:
            item.problem("experiment", ref, f"names {target}, which {reason}")
            continue
        if not ref:
            continue
        try:
            experiment = load_experiment(target)
        except InvalidSpecError as exc:
            problems.extend(exc.problems)
            continue
        if experiment.phases.total > slot:
            item.problem(
                "slot",
                item.data.get("slot"),
                f"is shorter than {ref}'s phases ({experiment.phases.total:g} s)",
            )
        scenarios.append(Scenario(scenario_name, experiment, slot))
    if not scenarios and not problems:
        spec.problem("scenarios", [], "must list at least one scenario")
    targets_f = spec.section("targets")
    targets = Targets(
        alert=targets_f.duration("alert", positive=True),
        mitigation=targets_f.duration("mitigation", positive=True),
        recovery=targets_f.duration("recovery", positive=True),
    )
    targets_f.finish()
    mitigation = spec.section("mitigation")
    automatic_after = mitigation.duration("automaticAfter", default="30s")
    mitigation.finish()
    workflow_ref = spec.text("workflow", default=None) or None
    workflow = path.parent / workflow_ref if workflow_ref else None
    if workflow is not None and path_problem(workflow):
        spec.problem("workflow", workflow_ref, f"names {workflow}, which {path_problem(workflow)}")
    spec.finish()
    doc.finish()
    if problems:
        return None
    return GameDay(
        name, title, path, day, tuple(participants), tuple(scenarios), targets, automatic_after, workflow
    )


def _date(spec: Fields) -> date:
    raw = spec.data.get("date")
    spec.consume("date")
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        spec.problem("date", raw, "must be a date such as 2026-12-15")
        return date(1970, 1, 1)


__all__ = ["GameDay", "Participant", "Scenario", "Targets", "load_gameday", "owner_of"]
