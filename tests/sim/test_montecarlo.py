"""Monte Carlo predictions: determinism whatever the parallelism, estimates, probabilities, JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from chaos.errors import SimulationError
from chaos.metrics import METRICS
from chaos.system import SystemProfile, load_system_profile
from sim.forecast_summary import PredictionSummary
from sim.montecarlo import SCHEMA_VERSION, Prediction, estimate, predict
from sim.result import PHASE_METRICS, RUN_METRICS
from sim.scenario import PodFault, Scenario, StoreFault
from tests.sim.builders import three_phases


def as_json(prediction: Prediction) -> dict[str, object]:
    return PredictionSummary.of(prediction).to_dict()


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def system() -> SystemProfile:
    return load_system_profile(ROOT / "experiments" / "system.yaml")


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return three_phases(
        20.0,
        30.0,
        20.0,
        pod_faults=(PodFault("pod-failure", 20.0, 15.0, "fixed-percent", "30"),),
        store_faults=(StoreFault("delay", 25.0, 20.0, latency=0.5, jitter=0.1, correlation=0.25),),
    )


@pytest.fixture(scope="module")
def prediction(system: SystemProfile, scenario: Scenario) -> Prediction:
    return predict(system, scenario, replications=6, seed=11, jobs=1)


def test_same_seed_same_prediction_whatever_the_number_of_processes(
    system: SystemProfile, scenario: Scenario, prediction: Prediction
) -> None:
    seen: list[tuple[int, int]] = []
    parallel = predict(
        system, scenario, replications=6, seed=11, jobs=2, progress=lambda d, t: seen.append((d, t))
    )
    assert as_json(parallel) == as_json(prediction)
    assert seen == [(k, 6) for k in range(1, 7)]
    other = predict(system, scenario, replications=6, seed=12, jobs=1)
    assert as_json(other) != as_json(prediction)


def test_progress_is_reported_per_replication_inline(system: SystemProfile, scenario: Scenario) -> None:
    seen: list[tuple[int, int]] = []
    predict(system, scenario, replications=3, seed=0, jobs=1, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_estimates_are_the_mean_and_the_prediction_interval_of_the_next_replication(
    prediction: Prediction,
) -> None:
    values = prediction.values("availability", "chaos")
    est = prediction.metric("availability", "chaos")
    assert est.point == pytest.approx(values.mean())
    half = stats.t.ppf(0.95, 5) * values.std(ddof=1) * math.sqrt(1 + 1 / 6)  # six replications
    assert (est.low, est.high) == pytest.approx((values.mean() - half, min(values.mean() + half, 1.0)))
    assert est.count == 6
    assert est.low is not None and est.high is not None and est.point is not None
    assert est.low <= est.point <= est.high
    p95 = prediction.metric("latency_p95", "chaos")
    assert p95.point == pytest.approx(np.median(prediction.values("latency_p95", "chaos")))


def test_the_scenario_shows_in_the_numbers(prediction: Prediction) -> None:
    baseline, chaos = (
        prediction.metric("availability", "baseline"),
        prediction.metric("availability", "chaos"),
    )
    assert baseline.point is not None and chaos.point is not None
    assert baseline.point > 0.999
    assert chaos.point < baseline.point  # 3 pods refuse until the LB takes them out
    assert prediction.metric("ready_pods_min", "chaos").point == 7
    assert prediction.metric("ready_pods_min", "baseline").point == 10
    trip = prediction.metric("breaker_first_trip")
    assert trip.count == 6 and trip.point is not None and 0 < trip.point < 2  # 5 timed-out calls
    cache = prediction.metric("cache_share", "chaos")
    assert cache.point is not None and cache.point > 0.3
    assert prediction.metric("cache_share", "baseline").point == 0.0


def test_probability_counts_replications_meeting_the_criterion(prediction: Prediction) -> None:
    values = prediction.values("availability", "chaos")
    threshold = float(np.median(values))
    assert prediction.probability("availability", "chaos", ">=", threshold) == np.mean(values >= threshold)
    assert prediction.probability("availability", "baseline", ">", 0.99) == 1.0
    assert prediction.probability("breaker_first_trip", None, "<", 0.0) == 0.0


def test_undefined_values_are_left_out_of_estimates() -> None:
    est = estimate(np.array([np.nan, 2.0, 4.0]))
    assert (est.point, est.count) == (3.0, 2)
    assert estimate(np.array([np.nan, np.nan])).to_dict() == {
        "point": None,
        "low": None,
        "high": None,
        "count": 0,
    }


def test_json_form(prediction: Prediction) -> None:
    data = as_json(prediction)
    text = json.dumps(data, allow_nan=False)  # valid JSON: undefined numbers are null
    assert json.loads(text) == data
    assert data["schemaVersion"] == SCHEMA_VERSION
    assert data["replications"] == 6 and data["seed"] == 11
    assert [p["name"] for p in data["phases"]] == ["baseline", "chaos", "recovery"]
    assert set(data["metrics"]) == {*PHASE_METRICS, *RUN_METRICS}
    assert set(METRICS) <= set(data["metrics"])
    for name, info in METRICS.items():  # the project's metric vocabulary, all of it
        entry = data["metrics"][name]
        if info.phased:
            assert set(entry) == {"baseline", "chaos", "recovery"}
            assert set(entry["chaos"]) == {"point", "low", "high", "count"}
        else:
            assert set(entry) == {"point", "low", "high", "count"}
    assert set(data["errors"]["chaos"]) == {"refused", "reset", "timeout", "overload", "unavailable"}
    assert set(data["fallbackReasons"]["chaos"]) == {"features", "model_error", "model_timeout"}
    series = data["series"]
    assert len(series["time"]) == 70
    assert len(series["availability"]["mean"]) == 70
    assert series["ready_pods"]["low"][0] == 10


def test_series_band(prediction: Prediction) -> None:
    band = prediction.series("availability")
    assert band.time.tolist() == list(range(70))
    assert np.all(band.low <= band.mean + 1e-12) and np.all(band.mean <= band.high + 1e-12)
    # second by second: the mean and the 5th to 95th percentile of the replications' values
    per_replication = np.vstack([r.seconds["availability"] for r in prediction.replications])
    assert np.allclose(band.mean, per_replication.mean(axis=0))
    assert np.allclose(band.low, np.percentile(per_replication, 5, axis=0))
    assert np.allclose(band.high, np.percentile(per_replication, 95, axis=0))
    with pytest.raises(SimulationError, match="series='p95' is not one of"):
        prediction.series("p95")


@pytest.mark.parametrize(
    ("metric", "phase", "message"),
    [
        ("p95", "chaos", "metric='p95' is not one of"),
        ("availability", None, "phase=None must be one of"),
        ("availability", "steady", "phase='steady' must be one of"),
        ("recovery_time", "chaos", "phase='chaos' must be None"),
    ],
)
def test_bad_metric_questions_are_named(
    prediction: Prediction, metric: str, phase: str | None, message: str
) -> None:
    with pytest.raises(SimulationError, match=message):
        prediction.metric(metric, phase)


def test_bad_arguments(system: SystemProfile, scenario: Scenario) -> None:
    with pytest.raises(SimulationError, match="replications=0 must be >= 1"):
        predict(system, scenario, replications=0)
    with pytest.raises(SimulationError, match="jobs=0 must be >= 1"):
        predict(system, scenario, replications=2, jobs=0)
