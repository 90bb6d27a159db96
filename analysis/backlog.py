"""Issues a run discovered and the improvement backlog they call for, by documented rules.

Each rule reads what the run showed (its analysis, its score card, its timeline) and, when it
applies, files one item with a priority:

| rule | priority |
|---|---|
| the run was aborted, or its rollback did not complete | high |
| a threshold criterion failed while pods were not ready (capacity lost to the fault) | high |
| a threshold criterion failed with every pod ready (the service itself degraded) | high |
| a feature-store fault ran and no circuit breaker tripped | high |
| an alert a criterion expects did not fire after the fault began | high |
| an expected alert fired, but more than ALERT_LATE after the fault began | medium |
| recovery took longer than the prediction's 90 % interval allowed | medium |
| the prediction was badly off (confidence below the marginal band, or a critical metric failed) | medium |
| a node's CPU was used up during a phase (analysis.host: idle under 5 % of a scrape interval) | medium |
| a criterion held with less than THIN_MARGIN of its room left | low |

Pure: data in, items out, in priority order.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from analysis.analyse import Analysis
from analysis.host import saturated_in, to_phases
from analysis.record import RunData
from analysis.score import MARGINAL_AT, ScoreCard
from analysis.summary import observed_text
from analysis.tolerances import Grade
from chaos.spec import AlertsCriterion, ThresholdCriterion

ALERT_LATE = 120.0
"""Seconds after the fault began by which an expected alert should fire (two `for: 1m` windows)."""
THIN_MARGIN = 0.2


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


_ORDER = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2}


@dataclass(frozen=True)
class Item:
    priority: Priority
    issue: str
    """What the run showed."""
    action: str
    """What to improve."""


def backlog(data: RunData, analysis: Analysis, card: ScoreCard) -> list[Item]:
    items: list[Item] = []
    items += _run_safety(data)
    items += _criteria(data, analysis)
    items += _breaker(data, analysis)
    items += _alerts(data, analysis)
    items += _recovery(data, analysis)
    items += _host(data)
    items += _prediction(card)
    items += _thin_margins(card)
    return sorted(items, key=lambda i: _ORDER[i.priority])


def _run_safety(data: RunData) -> list[Item]:
    out = []
    abort = data.info.get("abort")
    if abort:
        out.append(
            Item(
                Priority.HIGH,
                f"the run was aborted: {abort.get('detail', '')}",
                "find why the abort condition held (timeline, summary.md) before running it again",
            )
        )
    rollback = data.info.get("rollback", {})
    if rollback and not rollback.get("done", True):
        out.append(
            Item(
                Priority.HIGH,
                "rollback did not complete: " + "; ".join(rollback.get("errors", [])),
                "run `chaoslab cleanup`; make the rollback path handle what failed",
            )
        )
    return out


def _not_ready_during(data: RunData, phase: str | None) -> int:
    """Most pods not ready at once in `phase` (all phases when None)."""
    origin = data.origin
    if origin is None or not data.samples:
        return 0
    bounds = data.experiment.phases.bounds()
    start, end = bounds.get(phase, (0.0, float("inf"))) if phase else (0.0, float("inf"))
    return max((s.desired - s.ready for s in data.samples if start <= s.time - origin < end), default=0)


def _criteria(data: RunData, analysis: Analysis) -> list[Item]:
    out = []
    specs = {c.name: c for c in data.experiment.success_criteria}
    for r in analysis.verdict.results:
        c = specs.get(r.name)
        if r.passed or not isinstance(c, ThresholdCriterion):
            continue
        missing = _not_ready_during(data, c.phase)
        if missing:
            out.append(
                Item(
                    Priority.HIGH,
                    f"{r.description} missed ({observed_text(r)}) while {missing} pod(s) were not ready",
                    "add capacity headroom (replicas, a PodDisruptionBudget) or detect failed pods "
                    "faster (readiness period x failure threshold)",
                )
            )
        else:
            out.append(
                Item(
                    Priority.HIGH,
                    f"{r.description} missed ({observed_text(r)}) with every pod ready",
                    "the service degraded on its own: look at timeouts, the breaker and the fallbacks",
                )
            )
    return out


def _breaker(data: RunData, analysis: Analysis) -> list[Item]:
    store_fault = any(c.kind == "NetworkChaos" for c in data.chaos)
    observation = analysis.observation
    if not store_fault or observation is None or observation.breaker_first_trip is not None:
        return []
    return [
        Item(
            Priority.HIGH,
            "the feature store was faulted and no circuit breaker tripped",
            "check the breaker's thresholds (failures, slow-call limit) against the store's timeout",
        )
    ]


def _alerts(data: RunData, analysis: Analysis) -> list[Item]:
    out = []
    start = data.fault_start
    firsts: dict[str, float] = {}
    for a in analysis.alerts:
        if start is not None and (a.end is None or a.end > start):
            firsts.setdefault(a.name, max(a.start, start))
    for c in data.experiment.success_criteria:
        if not isinstance(c, AlertsCriterion):
            continue
        for name in c.alerts:
            if name not in firsts:
                out.append(
                    Item(
                        Priority.HIGH,
                        f"alert {name} did not fire after the fault began",
                        f"check the rule of {name} (expression, `for`) against what the run showed",
                    )
                )
            elif start is not None and firsts[name] - start > ALERT_LATE:
                late = firsts[name] - start
                out.append(
                    Item(
                        Priority.MEDIUM,
                        f"alert {name} fired {late:.0f} s after the fault began",
                        f"shorten the rule's window or `for` so {name} fires within {ALERT_LATE:g} s",
                    )
                )
    return out


def _recovery(data: RunData, analysis: Analysis) -> list[Item]:
    observation, forecast = analysis.observation, data.forecast
    if observation is None or forecast is None or observation.recovery_time is None:
        return []
    predicted = forecast.prediction.metric("recovery_time")
    if predicted is None or predicted.high is None or observation.recovery_time <= predicted.high:
        return []
    return [
        Item(
            Priority.MEDIUM,
            f"recovery took {observation.recovery_time:.1f} s, above the predicted {predicted.high:.1f} s",
            "find what slowed it (start-up, readiness, caches) and update the profile or the service",
        )
    ]


def _host(data: RunData) -> list[Item]:
    if data.signals is None:
        return []
    used_up = saturated_in(data.signals.host_cpu, to_phases(data.info))
    if not used_up:
        return []
    where = ", ".join(f"{n} s of {phase}" for phase, n in used_up.items())
    return [
        Item(
            Priority.MEDIUM,
            f"the machine's CPU was used up ({where}): latency measured then is partly the machine's",
            "give the pods CPU headroom (requests and limits, fewer pods per node, start-ups spread out) "
            "or rerun before reading a latency miss of that phase as the service's",
        )
    ]


def _prediction(card: ScoreCard) -> list[Item]:
    score = card.confidence
    failed = [m for m in card.metrics if m.critical and m.grade == Grade.FAIL]
    if score is None or (score >= MARGINAL_AT and not failed):
        return []
    names = ", ".join(f"{m.metric} ({m.phase or 'run'})" for m in failed) or "several metrics"
    return [
        Item(
            Priority.MEDIUM,
            f"the prediction was badly off (confidence {score:.0f}/100; {names})",
            "calibrate the profile from this run's baseline (`sim calibrate`) and predict again",
        )
    ]


def _thin_margins(card: ScoreCard) -> list[Item]:
    return [
        Item(
            Priority.LOW,
            f"{c.name} held with only {c.margin:.0%} of its room left",
            "little headroom: a slightly larger fault would break it",
        )
        for c in card.criteria
        if c.passed and c.margin is not None and c.margin < THIN_MARGIN
    ]
