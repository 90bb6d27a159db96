"""The prediction a run records: `sim predict` of the experiment, as its forecast summary.

With `rules` (the alert rules the system's Prometheus loaded), the simulator's replications are also
run through them with promtool (sim.promtool), so the forecast says which alerts fire and when, and
the run's `alertsFire` criteria get a prediction; without promtool the run still gets the rest.
The rules are evaluated as often as the system's Prometheus evaluates them (`alert_interval`: the
testbed's every second, a cluster's typically every 15 s to a minute), so the predicted first-fire
times carry the same granularity, and each replication its own evaluation phase (sim.promtool).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from chaos.errors import ChaosLabError
from chaos.spec import Experiment
from runner.prometheus import PrometheusReader
from sim.forecast import forecast
from sim.forecast_summary import ForecastSummary
from sim.from_spec import scenario_from_experiment
from sim.montecarlo import predict
from sim.promtool import EVALUATION_INTERVAL, evaluate_alerts, read_rule_groups

log = logging.getLogger(__name__)

DEFAULT_REPLICATIONS = 10


def predict_run(
    experiment: Experiment,
    replications: int = DEFAULT_REPLICATIONS,
    seed: int = 0,
    jobs: int | None = None,
    rules: Path | None = None,
    evaluation: int = EVALUATION_INTERVAL,
) -> ForecastSummary:
    """What the simulator predicts for `experiment` (written as the run's prediction.json), the
    alert `rules` evaluated every `evaluation` seconds."""
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
                evaluation=evaluation,
                jobs=jobs or os.cpu_count() or 1,
            )
        except ChaosLabError as exc:
            log.warning("alerts not predicted: %s", exc.one_line())
    return forecast(experiment, prediction, fired).summary()


def alert_interval(prometheus: PrometheusReader, rules: Path | None) -> int:
    """Whole seconds (at least 1, rounded up) between the evaluations of the groups of `rules` by
    the system's Prometheus, as it reports them; EVALUATION_INTERVAL where it cannot say."""
    if rules is None:
        return EVALUATION_INTERVAL
    try:
        names = [str(g.get("name", "")) for g in read_rule_groups(rules)]
        seconds = prometheus.rule_interval(names)
    except ChaosLabError as exc:
        log.warning("alert rules evaluated every %d s: %s", EVALUATION_INTERVAL, exc.one_line())
        return EVALUATION_INTERVAL
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        log.warning("alert rules evaluated every %d s: Prometheus reports no interval", EVALUATION_INTERVAL)
        return EVALUATION_INTERVAL
    return max(1, math.ceil(seconds - 1e-9))
