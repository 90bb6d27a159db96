"""Small forecasts for tests: a ForecastSummary with only the parts a test is about."""

from __future__ import annotations

from collections.abc import Mapping

from sim.forecast_summary import CriterionSummary, ForecastSummary, PredictionSummary
from sim.montecarlo import Estimate


def estimate(point: float, low: float, high: float, count: int = 10) -> Estimate:
    return Estimate(point, low, high, count)


def forecast(
    criteria: Mapping[str, Estimate] | None = None,
    metrics: Mapping[str, Mapping[str, Estimate]] | None = None,
    run_metrics: Mapping[str, Estimate] | None = None,
    filled: str = "",
) -> ForecastSummary:
    """A forecast predicting `criteria` (name -> estimate) and the given metrics, nothing else."""
    prediction = PredictionSummary(
        replications=10,
        seed=0,
        interval=(5.0, 95.0),
        horizon=0.0,
        phases=(),
        metrics=dict(metrics or {}),
        run_metrics=dict(run_metrics or {}),
        errors={},
        fallback_reasons={},
        series={},
    )
    return ForecastSummary(
        experiment="test",
        title="test",
        source="test.experiment.yaml",
        statement="",
        filled=filled,
        blanks=(),
        criteria=tuple(
            CriterionSummary(name, "ThresholdCriterion", name, e, None)
            for name, e in (criteria or {}).items()
        ),
        prediction=prediction,
    )
