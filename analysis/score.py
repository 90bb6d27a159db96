"""A run scored: how well the prediction held (confidence) and how well the service held (resilience).

**Per metric and phase** the observed value (with its own 90 % interval where the observation has
one: Wilson for shares, bootstrap for quantiles) is set against the predicted point and 90 %
interval: the error, absolute and relative, whether the value fell inside the interval, the
interval's width and its interval score (analysis.stats), and a grade (analysis.tolerances). The
metrics scored are the phased ones of chaos.metrics except `error_rate` (the complement of
`availability`, which would count twice), plus `breaker_first_trip` and `recovery_time`.

**Predicted alerts** are graded too (analysis.alert_score): fired or not and when, against the
run's own ALERTS series.

**Prediction confidence score** (0-100): the weighted mean of the grades' credit (Pass 1, Marginal
0.5, Fail 0) over the metrics and the alerts, times 100. The experiment's own claims weigh most:
a metric that a success criterion or a hypothesis blank names, or an alert a criterion expects, is
*critical* (weight 3, others 1), and a critical Fail caps the score at CRITICAL_CAP, below the
marginal band, however well the rest was predicted (Kayenta's canary judge does the same with
critical metrics). Bands: >= 95 pass, >= 75 marginal, below fail (Kayenta's
defaults for a canary score).

**Resilience score** (0-100): the hypothesis' success criteria, equally weighted, each worth 0 when
it failed and 0.5 + 0.5 x its margin when it held, the margin (0-1) being how much of the room the
criterion allowed was left: for "availability > 99 %", the share of the remaining 1 % that was
kept; for "p95 < 300 ms", the share of the 300 ms not used; for "pods ready within T", the share
of T left. Criteria without a quantity (alerts fire, no manual intervention) count fully when they
hold. A service that passes every criterion by a hair scores 50; one with room to spare, near 100.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from analysis.alert_score import AlertScore, score_alerts
from analysis.analyse import Analysis
from analysis.observed import Observation, is_success
from analysis.record import RunData
from analysis.stats import DistributionComparison, compare_distributions, interval_score, relative_error
from analysis.tolerances import CRITICAL_WEIGHT, TOLERANCES, WEIGHT, Grade, grade
from analysis.verdict import CriterionResult
from chaos.metrics import METRICS, PHASED_METRICS, PHASES
from chaos.spec import AlertsCriterion, Criterion, Experiment, PodsReadyCriterion, ThresholdCriterion
from sim.forecast_summary import ForecastSummary
from sim.montecarlo import Estimate

SCORED_PHASED = tuple(m for m in PHASED_METRICS if m != "error_rate")
SCORED_RUN = ("breaker_first_trip", "recovery_time")
CRITICAL_CAP = 50.0
PASS_AT = 95.0
MARGINAL_AT = 75.0


@dataclass(frozen=True)
class MetricScore:
    metric: str
    phase: str | None
    observed: float
    observed_low: float | None
    observed_high: float | None
    predicted: Estimate
    error: float
    relative_error: float | None
    inside: bool
    width: float
    interval_score: float
    tolerance: float
    grade: Grade
    critical: bool

    @property
    def weight(self) -> float:
        return CRITICAL_WEIGHT if self.critical else WEIGHT

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "phase": self.phase,
            "observed": {"value": self.observed, "low": self.observed_low, "high": self.observed_high},
            "predicted": self.predicted.to_dict(),
            "error": self.error,
            "relativeError": self.relative_error,
            "inside": self.inside,
            "width": self.width,
            "intervalScore": self.interval_score,
            "tolerance": self.tolerance,
            "grade": str(self.grade),
            "critical": self.critical,
            "weight": self.weight,
        }


@dataclass(frozen=True)
class CriterionScore:
    name: str
    passed: bool
    margin: float | None
    """Share of the criterion's room left (0-1); None for criteria without a quantity."""

    @property
    def credit(self) -> float:
        if not self.passed:
            return 0.0
        return 1.0 if self.margin is None else 0.5 + 0.5 * self.margin

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "margin": self.margin, "credit": self.credit}


@dataclass(frozen=True)
class ScoreCard:
    run: str
    experiment: str
    metrics: tuple[MetricScore, ...]
    criteria: tuple[CriterionScore, ...]
    distributions: dict[str, DistributionComparison] = field(default_factory=dict)
    predicted: bool = True
    alerts: tuple[AlertScore, ...] = ()

    @property
    def graded(self) -> tuple[Graded, ...]:
        return (*self.metrics, *self.alerts)

    @property
    def confidence(self) -> float | None:
        """The prediction confidence score (None: no prediction, or nothing to grade)."""
        return confidence_score(self.graded)

    @property
    def confidence_grade(self) -> Grade | None:
        score = self.confidence
        return None if score is None else band(score)

    @property
    def resilience(self) -> float | None:
        return resilience_score(self.criteria)

    def to_dict(self) -> dict[str, Any]:
        grade_ = self.confidence_grade
        return {
            "run": self.run,
            "experiment": self.experiment,
            "confidence": self.confidence,
            "confidenceGrade": None if grade_ is None else str(grade_),
            "capped": any(m.critical and m.grade == Grade.FAIL for m in self.graded),
            "resilience": self.resilience,
            "metrics": [m.to_dict() for m in self.metrics],
            "criteria": [c.to_dict() for c in self.criteria],
            "alerts": [a.to_dict() for a in self.alerts],
            "latencyDistributions": {p: d.to_dict() for p, d in self.distributions.items()},
        }


# -- the scores -----------------------------------------------------------------------------------
class Graded(Protocol):
    """A graded prediction: a metric (MetricScore) or an alert (AlertScore)."""

    @property
    def grade(self) -> Grade: ...
    @property
    def critical(self) -> bool: ...
    @property
    def weight(self) -> float: ...


def confidence_score(metrics: Sequence[Graded]) -> float | None:
    if not metrics:
        return None
    total = sum(m.weight for m in metrics)
    score = 100.0 * sum(m.weight * m.grade.credit for m in metrics) / total
    if any(m.critical and m.grade == Grade.FAIL for m in metrics):
        score = min(score, CRITICAL_CAP)
    return score


def resilience_score(criteria: Sequence[CriterionScore]) -> float | None:
    if not criteria:
        return None
    return 100.0 * sum(c.credit for c in criteria) / len(criteria)


def band(score: float) -> Grade:
    return Grade.PASS if score >= PASS_AT else Grade.MARGINAL if score >= MARGINAL_AT else Grade.FAIL


# -- scoring a run --------------------------------------------------------------------------------
def score_run(data: RunData, analysis: Analysis, run: str = "") -> ScoreCard:
    experiment, observation, forecast = data.experiment, analysis.observation, data.forecast
    metrics: tuple[MetricScore, ...] = ()
    distributions: dict[str, DistributionComparison] = {}
    alerts: tuple[AlertScore, ...] = ()
    if forecast is not None and observation is not None:
        metrics = tuple(score_metrics(experiment, observation, forecast))
        distributions = _distributions(data, observation, forecast)
        expected = {
            a for c in experiment.success_criteria if isinstance(c, AlertsCriterion) for a in c.alerts
        }
        alerts = tuple(score_alerts(forecast.alerts, analysis.alerts, data.fault_start, data.end, expected))
    criteria = tuple(
        criterion_score(c, r)
        for c, r in zip(experiment.success_criteria, analysis.verdict.results, strict=True)
    )
    return ScoreCard(run, experiment.name, metrics, criteria, distributions, forecast is not None, alerts)


def critical_metrics(experiment: Experiment) -> set[tuple[str, str | None]]:
    """(metric, phase) pairs the experiment's criteria and hypothesis blanks make claims about."""
    found: set[tuple[str, str | None]] = set()
    for c in experiment.success_criteria:
        if isinstance(c, ThresholdCriterion):
            found.add((c.metric, c.phase if METRICS[c.metric].phased else None))
        elif isinstance(c, PodsReadyCriterion):
            found.add(("recovery_time", None))
    for b in experiment.hypothesis.blanks:
        phased = b.metric in METRICS and METRICS[b.metric].phased
        found.add((b.metric, b.phase if phased else None))
        if b.relative_to is not None:
            found.add((b.metric, b.relative_to))
    return found


def score_metrics(
    experiment: Experiment, observation: Observation, forecast: ForecastSummary
) -> list[MetricScore]:
    critical = critical_metrics(experiment)
    out = []
    pairs: list[tuple[str, str | None]] = [(m, p) for m in SCORED_PHASED for p in PHASES]
    pairs += [(m, None) for m in SCORED_RUN]
    for metric, phase in pairs:
        predicted = forecast.prediction.metric(metric, phase)
        observed = observation.metric(metric, phase)
        if predicted is None or observed is None or not math.isfinite(observed):
            continue
        scored = metric_score(
            metric,
            phase,
            observed,
            _observed_interval(observation, metric, phase),
            predicted,
            (metric, phase) in critical,
        )
        if scored is not None:
            out.append(scored)
    return out


def metric_score(
    metric: str,
    phase: str | None,
    observed: float,
    observed_interval: tuple[float | None, float | None],
    predicted: Estimate,
    critical: bool,
) -> MetricScore | None:
    graded = grade(observed, predicted, TOLERANCES[metric])
    if graded is None or predicted.point is None or predicted.low is None or predicted.high is None:
        return None
    return MetricScore(
        metric=metric,
        phase=phase,
        observed=observed,
        observed_low=observed_interval[0],
        observed_high=observed_interval[1],
        predicted=predicted,
        error=observed - predicted.point,
        relative_error=relative_error(observed, predicted.point),
        inside=predicted.low <= observed <= predicted.high,
        width=predicted.high - predicted.low,
        interval_score=interval_score(observed, predicted.low, predicted.high),
        tolerance=TOLERANCES[metric].at(predicted.point),
        grade=graded,
        critical=critical,
    )


def criterion_score(criterion: Criterion, result: CriterionResult) -> CriterionScore:
    margin: float | None = None
    value = result.observed
    if result.passed and isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(criterion, ThresholdCriterion):
            margin = _threshold_margin(criterion, float(value))
        elif isinstance(criterion, PodsReadyCriterion) and criterion.within > 0:
            margin = (criterion.within - float(value)) / criterion.within
    if margin is not None:
        margin = min(max(margin, 0.0), 1.0)
    return CriterionScore(result.name, result.passed, margin)


def _threshold_margin(c: ThresholdCriterion, value: float) -> float | None:
    fraction = METRICS[c.metric].unit == "fraction"
    if c.op in (">", ">="):
        room = (1.0 - c.threshold) if fraction else abs(c.threshold)
        return (value - c.threshold) / room if room > 0 else None
    return (c.threshold - value) / abs(c.threshold) if c.threshold else None


def _observed_interval(
    observation: Observation, metric: str, phase: str | None
) -> tuple[float | None, float | None]:
    observed = observation.phase(phase) if phase is not None else None
    if observed is None or metric not in observed.values:
        return None, None
    v = observed.values[metric]
    return v.low, v.high


def _distributions(
    data: RunData, observation: Observation, forecast: ForecastSummary
) -> dict[str, DistributionComparison]:
    out = {}
    sketches = forecast.prediction.latency_sketches
    for phase in observation.phases:
        sketch = sketches.get(phase.name)
        if sketch is None:
            continue
        start, end = observation.origin + phase.start, observation.origin + phase.end
        latencies = np.array(
            [r.latency for r in data.records if start <= r.time < end and is_success(r)], dtype=float
        )
        compared = compare_distributions(latencies, sketch)
        if compared is not None:
            out[phase.name] = compared
    return out
