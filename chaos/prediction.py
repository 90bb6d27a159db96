"""The prediction a run records: `sim predict` of the experiment, as forecast JSON."""

from __future__ import annotations

from typing import Any

from chaos.spec import Experiment
from sim.forecast import forecast
from sim.from_spec import scenario_from_experiment
from sim.montecarlo import predict

DEFAULT_REPLICATIONS = 10


def forecast_json(
    experiment: Experiment, replications: int = DEFAULT_REPLICATIONS, seed: int = 0, jobs: int | None = None
) -> dict[str, Any]:
    """What the simulator predicts for `experiment` (sim.forecast.Forecast.to_dict)."""
    scenario = scenario_from_experiment(experiment)
    prediction = predict(experiment.system, scenario, replications=replications, seed=seed, jobs=jobs)
    return forecast(experiment, prediction).to_dict()
