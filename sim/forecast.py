"""A prediction read against an experiment: the hypothesis blanks filled, each criterion's odds.

Pure: takes the experiment, the Monte Carlo prediction and, if the alert rules were evaluated on
its replications (sim/promtool.py), their firing alerts; returns data. `sim predict` renders it
as text, markdown or JSON (schema in sim/README.md, "Forecast JSON").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from chaos.metrics import FRACTIONS
from chaos.spec import (
    AlertsCriterion,
    Blank,
    Criterion,
    Experiment,
    NoManualInterventionCriterion,
    PodsReadyCriterion,
    ThresholdCriterion,
)
from sim.alerts import AlertPrediction
from sim.forecast_summary import BlankSummary, CriterionSummary, ForecastSummary, PredictionSummary
from sim.interval import UNBOUNDED
from sim.montecarlo import Estimate, Prediction, domain, estimate

UNIT_SCALE = {"s": 1.0, "ms": 1000.0, "percent": 100.0, "fraction": 1.0, "pods": 1.0, "rps": 1.0}


@dataclass(frozen=True)
class FilledBlank:
    blank: Blank
    estimate: Estimate  # in the blank's unit
    replications: int

    @property
    def value(self) -> float | None:
        e = self.estimate
        return {"point": e.point, "low": e.low, "high": e.high}[self.blank.bound]

    @property
    def text(self) -> str:
        return format_value(self.value, self.blank.unit)

    @property
    def interval_text(self) -> str:
        e = self.estimate
        if e.low is None or e.high is None:
            return "no replication had a value"
        unit = self.blank.unit
        span = f"{format_value(e.low, unit)} to {format_value(e.high, unit)}"
        missing = self.replications - e.count
        note = f"; undefined in {missing} of {self.replications} replications" if missing else ""
        return f"point {format_value(e.point, unit)}, 90 % PI {span}{note}"


@dataclass(frozen=True)
class CriterionForecast:
    criterion: Criterion
    estimate: Estimate | None
    probability: float | None
    note: str = ""


@dataclass(frozen=True)
class Forecast:
    experiment: Experiment
    prediction: Prediction
    blanks: tuple[FilledBlank, ...]
    criteria: tuple[CriterionForecast, ...]
    alerts: AlertPrediction | None = None

    @property
    def statement(self) -> str:
        return self.experiment.hypothesis.fill({b.blank.name: b.text for b in self.blanks})

    def summary(self) -> ForecastSummary:
        """What a run records of this forecast (prediction.json) and the analysis reads back."""
        e = self.experiment
        return ForecastSummary(
            experiment=e.name,
            title=e.title,
            source=str(e.source),
            statement=e.hypothesis.statement,
            filled=self.statement,
            blanks=tuple(_blank_summary(b) for b in self.blanks),
            criteria=tuple(_criterion_summary(c) for c in self.criteria),
            prediction=PredictionSummary.of(self.prediction),
            alerts=self.alerts.summaries() if self.alerts is not None else (),
            alert_evaluation=self.alerts.settings() if self.alerts is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The forecast JSON (sim/README.md, "Forecast JSON")."""
        return self.summary().to_dict()


def forecast(
    experiment: Experiment, prediction: Prediction, alerts: AlertPrediction | None = None
) -> Forecast:
    blanks = tuple(_fill(blank, prediction) for blank in experiment.hypothesis.blanks)
    criteria = tuple(_criterion(c, prediction, alerts) for c in experiment.success_criteria)
    return Forecast(experiment, prediction, blanks, criteria, alerts)


def _fill(blank: Blank, prediction: Prediction) -> FilledBlank:
    values = prediction.values(blank.metric, blank.phase)
    if blank.relative_to is not None:
        values = values - prediction.values(blank.metric, blank.relative_to)
    scale = UNIT_SCALE[blank.unit]
    low, high = domain(blank.metric)
    bounds = UNBOUNDED if blank.relative_to is not None else (low * scale, high * scale)
    median = blank.metric.startswith("latency_")
    estimated = estimate(np.asarray(values * scale, dtype=float), median=median, bounds=bounds)
    return FilledBlank(blank, estimated, len(values))


def _criterion(
    criterion: Criterion, prediction: Prediction, alerts: AlertPrediction | None
) -> CriterionForecast:
    if isinstance(criterion, ThresholdCriterion):
        return CriterionForecast(
            criterion,
            prediction.metric(criterion.metric, criterion.phase),
            prediction.probability(criterion.metric, criterion.phase, criterion.op, criterion.threshold),
        )
    if isinstance(criterion, PodsReadyCriterion):
        return CriterionForecast(
            criterion,
            prediction.metric("recovery_time"),
            prediction.probability("recovery_time", None, "<=", criterion.within),
            "from the predicted time to steady state after the last fault (pods ready and availability back)",
        )
    if isinstance(criterion, AlertsCriterion):
        return _alerts_criterion(criterion, alerts)
    if isinstance(criterion, NoManualInterventionCriterion):
        return CriterionForecast(criterion, None, None, "not predicted: observed on a live run")
    raise TypeError(f"criterion={criterion!r} is not a known criterion type")


def _alerts_criterion(criterion: AlertsCriterion, alerts: AlertPrediction | None) -> CriterionForecast:
    """P(every named alert fires at or after the first fault's start), and how long until they all did."""
    if alerts is None:
        return CriterionForecast(criterion, None, None, "not predicted: the alert rules were not evaluated")
    probability = alerts.probability(criterion.alerts)
    if probability is None:
        notes = (alerts.not_predicted(name) for name in criterion.alerts)
        return CriterionForecast(criterion, None, None, "; ".join(n for n in notes if n))
    note = (
        "seconds from the first fault's start until every named alert fired "
        f"(the rules evaluated every {alerts.evaluation:g} s by promtool)"
    )
    return CriterionForecast(criterion, alerts.time_to_all(criterion.alerts), probability, note)


def describe_criterion(criterion: Criterion) -> str:
    if isinstance(criterion, ThresholdCriterion):
        phase = f" ({criterion.phase})" if criterion.phase else ""
        return f"{criterion.metric}{phase} {criterion.op} {_threshold_text(criterion)}"
    if isinstance(criterion, PodsReadyCriterion):
        return f"pods ready within {criterion.within:g} s after the fault"
    if isinstance(criterion, AlertsCriterion):
        return "alerts fire: " + ", ".join(criterion.alerts)
    return "no manual intervention"


def _threshold_text(c: ThresholdCriterion) -> str:
    if c.metric.startswith("latency_") or c.metric in ("breaker_first_trip", "recovery_time"):
        return f"{c.threshold * 1000:g} ms" if c.threshold < 1 else f"{c.threshold:g} s"
    if c.metric in FRACTIONS:
        return f"{c.threshold * 100:g} %"
    return f"{c.threshold:g}"


def format_value(value: float | None, unit: str) -> str:
    """A number as a person reads it in `unit` (enough decimals to tell 99.9 % from 100 %)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if unit == "percent":
        if value >= 99 or value <= 1:
            return f"{value:.2f}"
        return f"{value:.1f}"
    if unit in ("ms", "rps"):
        return f"{value:.0f}" if abs(value) >= 10 else f"{value:.1f}"
    if unit == "pods":
        return f"{value:.0f}"
    if unit == "fraction":
        return f"{value:.4f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _number(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _blank_summary(b: FilledBlank) -> BlankSummary:
    blank = b.blank
    return BlankSummary(
        name=blank.name,
        metric=blank.metric,
        phase=blank.phase,
        relative_to=blank.relative_to,
        unit=blank.unit,
        bound=blank.bound,
        value=_number(b.value),
        text=b.text,
        estimate=b.estimate,
    )


def _criterion_summary(c: CriterionForecast) -> CriterionSummary:
    crit = c.criterion
    summary = CriterionSummary(
        name=crit.name,
        type=type(crit).__name__,
        description=describe_criterion(crit),
        predicted=c.estimate,
        probability=c.probability,
        note=c.note,
    )
    if isinstance(crit, ThresholdCriterion):
        return replace(summary, metric=crit.metric, phase=crit.phase, op=crit.op, threshold=crit.threshold)
    return summary
