"""Observed metrics on synthetic request records: exact values, intervals, series, recovery."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.observed import (
    BOOTSTRAP_RESAMPLES,
    CONFIDENCE,
    QUANTILES,
    ReadySample,
    bootstrap_quantile_interval,
    observe_phase,
    observe_run,
    per_second,
    pods_ready_after,
    point_metrics,
    ready_steps,
    wilson_interval,
)
from load import Record

ORIGIN = 1_000.0


def record(
    t: float,
    latency: float = 0.01,
    outcome: str = "ok",
    source: str = "store",
    degraded: bool = False,
    fallback: bool = False,
    correct: bool | None = True,
    kind: str = "",
    reason: str = "",
) -> Record:
    failed = outcome == "error"
    return Record(
        time=ORIGIN + t,
        latency=latency,
        outcome=outcome,
        status=503 if failed else 200,
        error_kind=kind if failed else "",
        degraded=degraded,
        fallback=fallback,
        feature_source="" if failed else source,
        correct=None if failed else correct,
        phase="chaos",
        fallback_reason="" if failed else reason,
    )


def ten_requests() -> list[Record]:
    """Ten requests in two seconds: 6 fresh, 1 cached, 1 fallback model, 2 errors; 1 wrong."""
    return [
        record(0.0, 0.010),
        record(0.1, 0.020),
        record(0.2, 0.030, correct=False),
        record(0.3, 0.040),
        record(0.4, 0.050, source="cache", fallback=True),
        record(1.0, 0.060, source="defaults", fallback=True, degraded=True, correct=None),
        record(1.1, 0.070),
        record(1.2, 0.080),
        record(1.3, 2.000, outcome="error", kind="timeout"),
        record(1.4, 0.001, outcome="error", kind="refused"),
    ]


def test_point_metrics_of_synthetic_records_are_exact() -> None:
    values = point_metrics(ten_requests(), duration=2.0)
    assert values["availability"] == 8 / 10
    assert values["error_rate"] == 2 / 10
    assert values["cache_share"] == 1 / 10
    assert values["fallback_share"] == 2 / 10  # cached features and the fallback model
    assert values["wrong_rate"] == 1 / 7  # one wrong of the seven judged successes
    assert values["throughput"] == 8 / 2.0
    ok = [0.010, 0.020, 0.030, 0.040, 0.050, 0.060, 0.070, 0.080]  # errors' latency is left out
    # numpy's linear interpolation: position (n - 1) q
    assert values["latency_p50"] == pytest.approx(0.045)
    assert values["latency_p95"] == pytest.approx(0.070 + 0.65 * 0.010)
    assert values["latency_p99"] == pytest.approx(float(np.quantile(ok, 0.99)))


def test_no_requests_leave_every_share_undefined() -> None:
    values = point_metrics([], duration=5.0)
    assert values["availability"] is None and values["latency_p95"] is None
    assert values["throughput"] == 0.0


def test_a_phase_observation_counts_errors_by_kind_and_gives_intervals() -> None:
    phase = observe_phase("chaos", 0.0, 2.0, ten_requests(), 2, np.random.default_rng(0))
    assert phase.requests == 10 and phase.errors == {"refused": 1, "timeout": 1}
    availability = phase.values["availability"]
    assert availability.value == 0.8
    assert (availability.low, availability.high) == pytest.approx(wilson_interval(8, 10))
    # the quantiles' intervals: the bootstrap of the successes' latencies, drawn in turn from the rng
    latencies = [r.latency for r in ten_requests() if r.outcome != "error"]
    rng = np.random.default_rng(0)
    for metric, q in QUANTILES.items():
        interval = bootstrap_quantile_interval(latencies, q, rng, BOOTSTRAP_RESAMPLES, CONFIDENCE)
        value = phase.values[metric]
        assert (value.low, value.high) == interval, metric
    p95 = phase.values["latency_p95"]
    assert p95.low is not None and p95.high is not None and p95.low <= p95.value <= p95.high  # type: ignore[operator]
    assert phase.values["ready_pods_min"].value == 2.0
    assert phase.to_dict()["metrics"]["throughput"] == {"value": 4.0, "low": None, "high": None}


def test_wilson_interval_matches_the_published_example_and_the_formula() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857, example: 81 of 263, 95 %: 0.2553 to 0.3662
    low, high = wilson_interval(81, 263, confidence=0.95)  # type: ignore[misc]
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    # 90 %, by the closed form
    z = 1.6448536269514722
    n, p = 100, 0.95
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert wilson_interval(95, 100) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert wilson_interval(0, 0) is None
    low0, high0 = wilson_interval(0, 20)  # type: ignore[misc]
    assert low0 == 0.0 and 0 < high0 < 0.15
    with pytest.raises(ValueError, match="successes=5 must be between 0 and trials=4"):
        wilson_interval(5, 4)


def test_the_bootstrap_interval_is_seeded_and_agrees_with_resampling() -> None:
    rng = np.random.default_rng(42)
    sample = rng.lognormal(mean=-3.5, sigma=0.5, size=200)
    fast = bootstrap_quantile_interval(sample, 0.95, np.random.default_rng(7), resamples=4000)
    again = bootstrap_quantile_interval(sample, 0.95, np.random.default_rng(7), resamples=4000)
    assert fast == again
    # the classic bootstrap: resample, take the quantile, percentiles of those
    draws = np.random.default_rng(8).choice(sample, size=(4000, len(sample)), replace=True)
    classic = np.percentile(np.quantile(draws, 0.95, axis=1), [5, 95])
    assert fast is not None
    spread = classic[1] - classic[0]
    assert fast[0] == pytest.approx(classic[0], abs=0.1 * spread)
    assert fast[1] == pytest.approx(classic[1], abs=0.1 * spread)
    assert fast[0] < float(np.quantile(sample, 0.95)) < fast[1]


def test_the_bootstrap_interval_of_degenerate_samples() -> None:
    rng = np.random.default_rng(0)
    assert bootstrap_quantile_interval([], 0.5, rng) is None
    assert bootstrap_quantile_interval([0.25], 0.95, rng) == (0.25, 0.25)
    assert bootstrap_quantile_interval([0.1] * 50, 0.5, rng) == (0.1, 0.1)


def test_per_second_series_use_the_nearest_rank_and_the_fewest_ready_pods() -> None:
    samples = [
        ReadySample(ORIGIN + 0.5, 3, 3),
        ReadySample(ORIGIN + 1.2, 2, 3),
        ReadySample(ORIGIN + 1.8, 1, 3),
    ]
    series = per_second(ten_requests(), ORIGIN, horizon=3.0, samples=samples)
    assert series["requests"] == [5.0, 5.0, 0.0]
    assert series["availability"] == [1.0, 3 / 5, None]
    assert series["latency_p50"] == [0.030, 0.070, None]  # ceil(0.5 n)-th smallest success
    assert series["latency_p95"] == [0.050, 0.080, None]
    assert series["cache_share"] == [1 / 5, 0.0, None]
    assert series["throughput"] == [5.0, 3.0, 0.0]
    assert series["ready_pods"] == [3.0, 1.0, 1.0]  # a second without a sample keeps the last count


def test_ready_steps_and_pods_ready_after() -> None:
    samples = [ReadySample(ORIGIN + t, r, 3) for t, r in [(0, 3), (1, 3), (2, 2), (3, 2), (4, 3), (5, 3)]]
    times, counts = ready_steps(samples, ORIGIN)
    assert times.tolist() == [0.0, 2.0, 4.0] and counts.tolist() == [3, 2, 3]
    assert pods_ready_after(samples, ORIGIN, fault_end=3.0) == 1.0
    assert pods_ready_after(samples, ORIGIN, fault_end=4.5) == 0.0
    assert pods_ready_after(samples[:4], ORIGIN, fault_end=3.0) is None


def test_time_to_recover_follows_the_simulators_definition() -> None:
    # 10 requests per second for 30 s; a fault from 10 s to 20 s; half the requests fail from 10 s
    # to 22 s (the service lags the fault); one pod in three is out from 10 s until 23 s
    records = [
        record(k / 10, outcome="error" if 100 <= k < 220 and k % 2 else "ok", kind="http_503")
        for k in range(300)
    ]
    samples = [ReadySample(ORIGIN + s, 2 if 10 <= s < 23 else 3, 3) for s in range(31)]
    bounds = {"baseline": (0.0, 10.0), "chaos": (10.0, 20.0), "recovery": (20.0, 30.0)}
    observed = observe_run(records, ORIGIN, bounds, samples, fault_start=10.0, fault_end=20.0)
    assert observed.recovery_time == 3.0  # pods back at 23 s, later than availability (22 s)
    assert observed.pods_ready_after == 3.0
    assert observed.metric("availability", "chaos") == 0.5
    assert observed.metric("ready_pods_min", "recovery") == 2.0
    assert observed.metric("recovery_time") == 3.0
    # availability later than the pods: it decides
    late = [record(k / 10, outcome="error" if 100 <= k < 260 and k % 2 else "ok") for k in range(300)]
    assert observe_run(late, ORIGIN, bounds, samples, 10.0, 20.0).recovery_time == 6.0
    # still sick at the end: never recovered
    never = [record(k / 10, outcome="error" if k >= 100 and k % 2 else "ok") for k in range(300)]
    assert observe_run(never, ORIGIN, bounds, samples, 10.0, 20.0).recovery_time is None
    assert observe_run(records, ORIGIN, bounds, samples, None, None).recovery_time is None


def test_the_first_breaker_trip_comes_from_the_pods_record_or_else_the_first_answer_showing_it() -> None:
    records = [
        record(4.0, latency=0.1, source="cache", fallback=True, reason="breaker_open"),  # an earlier fault
        record(10.1, latency=0.08, source="cache", fallback=True, reason="store_timeout"),
        record(10.30, latency=0.04, source="cache", fallback=True, reason="breaker_open"),
        record(10.32, latency=0.01, source="defaults", fallback=True, degraded=True, reason="breaker_open"),
        record(11.0, outcome="error", kind="http_503"),
    ]
    bounds = {"baseline": (0.0, 10.0), "chaos": (10.0, 20.0)}
    # the pods' own record of when their breakers opened (unix times), one from before the fault
    trips = [ORIGIN + 3.9, ORIGIN + 10.31, ORIGIN + 10.27]
    observed = observe_run(records, ORIGIN, bounds, [], 10.0, 20.0, breaker_trips=trips)
    assert observed.breaker_first_trip == pytest.approx(0.27)
    assert observed.breaker_trip_source == "pods"
    assert observed.metric("breaker_first_trip") == observed.breaker_first_trip
    assert observed.to_dict()["breaker_first_trip"] == observed.breaker_first_trip
    # no record from the pods: the first answer reporting the open breaker, when it was received
    answers = observe_run(records, ORIGIN, bounds, [], fault_start=10.0, fault_end=20.0)
    assert answers.breaker_first_trip == pytest.approx(0.33)
    assert answers.breaker_trip_source == "answers"
    no_trip = [r for r in records if r.fallback_reason != "breaker_open"]
    nothing = observe_run(no_trip, ORIGIN, bounds, [], 10.0, 20.0, breaker_trips=[ORIGIN + 3.9])
    assert (nothing.breaker_first_trip, nothing.breaker_trip_source) == (None, "")
    assert observe_run(records, ORIGIN, bounds, [], None, None).breaker_first_trip is None
