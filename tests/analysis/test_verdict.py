"""Each success criterion judged on what a run observed, beside what the prediction said."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analysis.observed import Observation, PhaseObservation, Value
from analysis.signals import AlertInterval
from analysis.verdict import inside, judge, predicted_criteria
from sim.montecarlo import Estimate
from tests.analysis.forecasts import estimate, forecast
from tests.runner.runner_fakes import write_experiment


def observation(availability: float, recovery: float | None) -> Observation:
    chaos = PhaseObservation("chaos", 10.0, 20.0, 100, {"availability": Value(availability, 0.9, 0.99)})
    return Observation(0.0, (chaos,), {}, recovery, recovery, 10.0, 20.0)


def test_the_verdict_compares_each_criterion_with_the_observation_and_the_prediction(tmp_path: Path) -> None:
    criteria: list[dict[str, Any]] = [
        {"name": "available", "metric": "availability", "phase": "chaos", "above": "95%"},
        {"name": "alert", "alertsFire": ["MLServicePodsUnavailable", "MLServiceHighErrorRate"]},
        {"name": "back", "podsReady": {"within": "10s"}},
        {"name": "hands off", "noManualIntervention": True},
    ]
    experiment = write_experiment(tmp_path, criteria=criteria)
    predicted = forecast({"available": estimate(0.96, 0.95, 0.97), "back": estimate(5.0, 4.0, 6.0)})
    alerts = [
        AlertInterval("MLServicePodsUnavailable", 1009.0, 1021.0, {}),
        AlertInterval("MLServiceHighErrorRate", 990.0, 1000.0, {}),  # before the chaos: does not count
    ]
    verdict = judge(experiment, observation(0.966, 7.0), alerts, predicted, [], chaos_start=1010.0)
    available, alert, back, hands_off = verdict.results
    assert (available.observed, available.passed, available.inside) == (0.966, True, True)
    assert not alert.passed and alert.note == "did not fire after the chaos began: MLServiceHighErrorRate"
    assert (back.observed, back.passed, back.inside, back.metric) == (7.0, True, False, "recovery_time")
    assert hands_off.passed and not verdict.passed

    worse = judge(experiment, observation(0.94, None), alerts, None, ["aborted: x"], chaos_start=1010.0)
    available, _, back, hands_off = worse.results
    assert not available.passed and available.inside is None
    assert not back.passed and back.note == "not observed (no data for it in this run)"
    assert not hands_off.passed and hands_off.observed == ["aborted: x"]
    data = worse.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data  # plain JSON: no tuple, no NaN


def test_inside_is_the_closed_predicted_interval_and_none_without_one() -> None:
    e = estimate(0.5, 0.4, 0.6)
    assert [inside(v, e) for v in (0.39, 0.4, 0.5, 0.6, 0.61)] == [False, True, True, True, False]
    assert inside(None, e) is None
    assert inside(0.5, None) is None
    assert inside(0.5, Estimate(None, None, None, 0)) is None  # no replication had a value


def test_predicted_criteria_keep_only_criteria_with_an_estimate() -> None:
    assert predicted_criteria(None) == {}
    f = forecast({"a": estimate(1.0, 0.5, 1.5)})
    assert predicted_criteria(f) == {"a": estimate(1.0, 0.5, 1.5)}


def test_an_alert_firing_across_the_chaos_start_counts_and_a_still_firing_one_too(tmp_path: Path) -> None:
    criteria: list[dict[str, Any]] = [{"name": "alert", "alertsFire": ["A", "B", "C"]}]
    experiment = write_experiment(tmp_path, criteria=criteria)
    alerts = [
        AlertInterval("A", 990.0, 1011.0, {}),  # began before the chaos, still firing after it began
        AlertInterval("B", 1020.0, None, {}),  # still firing at the end of the run
        AlertInterval("C", 980.0, 1010.0, {}),  # resolved exactly when the chaos began: does not count
    ]
    (result,) = judge(experiment, None, alerts, None, [], chaos_start=1010.0).results
    assert result.observed == ["A", "B"]
    assert not result.passed and result.note == "did not fire after the chaos began: C"
