"""The prediction a run records: `sim predict` of the experiment, as its forecast summary.

With `rules` (the alert rules the system's Prometheus loaded), the simulator's replications are also
run through them with promtool (sim.promtool), so the forecast says which alerts fire and when, and
the run's `alertsFire` criteria get a prediction; without promtool the run still gets the rest.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from chaos.errors import ChaosLabError
from chaos.spec import Experiment
from sim.forecast import forecast
from sim.forecast_summary import ForecastSummary
from sim.from_spec import scenario_from_experiment
from sim.montecarlo import predict
from sim.promtool import evaluate_alerts

log = logging.getLogger(__name__)

DEFAULT_REPLICATIONS = 10


def predict_run(
    experiment: Experiment,
    replications: int = DEFAULT_REPLICATIONS,
    seed: int = 0,
    jobs: int | None = None,
    rules: Path | None = None,
) -> ForecastSummary:
    """What the simulator predicts for `experiment` (written as the run's prediction.json)."""
    scenario = scenario_from_experiment(experiment)
    prediction = predict(experiment.system, scenario, replications=replications, seed=seed, jobs=jobs)
    fired = None
    if rules is not None:
        try:
            fired = evaluate_alerts(
                prediction,
                experiment.system,
                rules,
                since=scenario.fault_start() or 0.0,
                version=scenario.model_version,
                jobs=jobs or os.cpu_count() or 1,
            )
        except ChaosLabError as exc:
            log.warning("alerts not predicted: %s", exc.one_line())
    return forecast(experiment, prediction, fired).summary()
