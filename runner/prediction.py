"""The prediction a run records: `sim predict` of the experiment, as its forecast summary."""

from __future__ import annotations

from chaos.spec import Experiment
from sim.forecast import forecast
from sim.forecast_summary import ForecastSummary
from sim.from_spec import scenario_from_experiment
from sim.montecarlo import predict

DEFAULT_REPLICATIONS = 10


def predict_run(
    experiment: Experiment, replications: int = DEFAULT_REPLICATIONS, seed: int = 0, jobs: int | None = None
) -> ForecastSummary:
    """What the simulator predicts for `experiment` (written as the run's prediction.json)."""
    scenario = scenario_from_experiment(experiment)
    prediction = predict(experiment.system, scenario, replications=replications, seed=seed, jobs=jobs)
    return forecast(experiment, prediction).summary()
