"""Each success criterion judged on what a run observed, next to what the prediction said.

Pure. A threshold criterion takes the observed metric of its phase; `podsReady` takes the observed
time to recover (pods ready and availability back, the quantity the forecast predicts for it);
`alertsFire` passes when every named alert fired after the chaos began; `noManualIntervention`
passes when nobody had to step in (no abort, no interruption, no leftovers to clean up). A value
that could not be observed fails its criterion, with a note saying why. `inside` says whether the
observed value fell inside the prediction's 90 % interval (None when there is nothing to compare).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analysis.observed import Observation
from analysis.signals import AlertInterval
from chaos.spec import (
    AlertsCriterion,
    Criterion,
    Experiment,
    NoManualInterventionCriterion,
    PodsReadyCriterion,
    ThresholdCriterion,
)
from sim.forecast import describe_criterion
from sim.forecast_summary import ForecastSummary
from sim.montecarlo import Estimate


@dataclass(frozen=True)
class CriterionResult:
    name: str
    kind: str
    description: str
    observed: Any
    passed: bool
    predicted: Estimate | None = None
    inside: bool | None = None
    note: str = ""
    metric: str | None = None
    """The metric the observed value is in (None for alerts and interventions)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind,
            "description": self.description,
            "observed": self.observed,
            "passed": self.passed,
            "predicted": self.predicted.to_dict() if self.predicted is not None else None,
            "insidePrediction": self.inside,
            "note": self.note,
            "metric": self.metric,
        }


@dataclass(frozen=True)
class Verdict:
    results: tuple[CriterionResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "criteria": [r.to_dict() for r in self.results],
        }


def predicted_criteria(forecast: ForecastSummary | None) -> dict[str, Estimate]:
    """The forecast's predicted estimate per criterion name."""
    if forecast is None:
        return {}
    return {c.name: c.predicted for c in forecast.criteria if c.predicted is not None}


def inside(value: float | None, predicted: Estimate | None) -> bool | None:
    """Whether `value` lies in the predicted 90 % interval (None: nothing to compare)."""
    if value is None or predicted is None or predicted.low is None or predicted.high is None:
        return None
    return bool(predicted.low <= value <= predicted.high)


def judge(
    experiment: Experiment,
    observation: Observation | None,
    alerts: Sequence[AlertInterval],
    forecast: ForecastSummary | None,
    interventions: Sequence[str],
    chaos_start: float | None,
) -> Verdict:
    """Judge every criterion; `chaos_start` is the unix time of the first injection (None: none)."""
    predicted = predicted_criteria(forecast)
    results = tuple(
        _judge_one(c, observation, alerts, predicted.get(c.name), interventions, chaos_start)
        for c in experiment.success_criteria
    )
    return Verdict(results)


def _judge_one(
    criterion: Criterion,
    observation: Observation | None,
    alerts: Sequence[AlertInterval],
    predicted: Estimate | None,
    interventions: Sequence[str],
    chaos_start: float | None,
) -> CriterionResult:
    kind, text = type(criterion).__name__, describe_criterion(criterion)
    if isinstance(criterion, ThresholdCriterion | PodsReadyCriterion):
        if isinstance(criterion, ThresholdCriterion):
            metric, phase = criterion.metric, criterion.phase
            value = observation.metric(metric, phase) if observation else None
            holds = value is not None and criterion.holds(value)
        else:
            metric = "recovery_time"
            value = observation.recovery_time if observation else None
            holds = value is not None and value <= criterion.within
        note = "" if value is not None else "not observed (no data for it in this run)"
        return CriterionResult(
            criterion.name, kind, text, value, holds, predicted, inside(value, predicted), note, metric
        )
    if isinstance(criterion, AlertsCriterion):
        since = chaos_start if chaos_start is not None else float("inf")
        fired = sorted({a.name for a in alerts if a.end is None or a.end > since})
        missing = [a for a in criterion.alerts if a not in fired]
        note = f"did not fire after the chaos began: {', '.join(missing)}" if missing else ""
        return CriterionResult(criterion.name, kind, text, fired, not missing, note=note)
    if isinstance(criterion, NoManualInterventionCriterion):
        return CriterionResult(
            criterion.name, kind, text, list(interventions), not interventions, note="; ".join(interventions)
        )
    raise TypeError(f"criterion={criterion!r} is not a known criterion type")
