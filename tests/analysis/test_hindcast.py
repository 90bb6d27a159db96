"""The hindcast tells wrong parameters from a wrong model: re-predicted from the run's own
calibrated baseline, a prediction that missed for want of the request overhead comes right."""

from __future__ import annotations

from dataclasses import replace

from analysis.analyse import analyse
from analysis.hindcast import hindcast
from analysis.score import score_run
from chaos.system import Distribution
from sim.forecast import forecast
from sim.from_spec import scenario_from_experiment
from sim.montecarlo import predict
from tests.analysis.calibration_fakes import seed_experiment, synthetic_run, truth


def test_the_hindcast_of_a_run_with_an_unknown_overhead_is_right_where_the_prediction_was_not() -> None:
    experiment = seed_experiment(60.0)
    overhead = Distribution("lognormal", 0.006, 0.8)
    data = synthetic_run(truth(experiment.system, 0.033, 0.0025, overhead), experiment)
    prediction = predict(experiment.system, scenario_from_experiment(experiment), replications=2, jobs=1)
    data = replace(data, forecast=forecast(experiment, prediction).summary())
    analysis = analyse(data)
    before = score_run(data, analysis, "run")
    after = hindcast(data, analysis, "run", replications=2, resamples=4)
    assert after.run == "run (hindcast)"

    def p95(card: object) -> float:
        (m,) = [m for m in card.metrics if (m.metric, m.phase) == ("latency_p95", "baseline")]  # type: ignore[attr-defined]
        return abs(m.relative_error)

    assert p95(before) > 0.10  # 6 ms outside the pods the a-priori profile does not know of
    assert p95(after) < 0.03
    assert after.confidence is not None and before.confidence is not None
    assert after.confidence > before.confidence
