"""Per-phase and per-second aggregates of a trace, and the time-to-recover definition."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chaos.errors import SimulationError
from chaos.recovery import TOLERANCE, as_sampled, recovery_time
from chaos.system import ModelQuality
from sim import outcomes as oc
from sim.result import expected_wrong, phase_stats, sampled_wrong, second_series, summarise
from sim.scenario import Phase, PodFault, Scenario
from sim.timeline import Event, Timeline
from sim.trace import Trace
from tests.sim.builders import profile

CACHED = oc.pack(oc.OK, oc.CACHE)
DEFAULTS = oc.pack(oc.OK, oc.DEFAULT, oc.FALLBACK_FEATURES)
HUNG = oc.pack(oc.OK, oc.LIVE, oc.FALLBACK_TIMEOUT)
WRONG = oc.pack(oc.OK, oc.LIVE, oc.WRONG)


def trace(rows: list[tuple[float, float, int]], events: tuple[Event, ...] = (), replicas: int = 3) -> Trace:
    """(send, latency, code) rows."""
    send = np.array([r[0] for r in rows])
    latency = np.array([r[1] for r in rows])
    code = np.array([r[2] for r in rows], dtype=np.int64)
    return Trace(send, send, send + latency, code, Timeline(events, replicas, 10.0, (0.0,) * replicas))


ROWS = [
    (0.1, 0.010, oc.OK),
    (0.2, 0.020, CACHED),
    (0.3, 0.030, DEFAULTS),
    (0.4, 0.040, HUNG),
    (1.1, 0.050, WRONG),
    (1.2, 0.000, oc.REFUSED),
    (1.3, 1.000, oc.TIMEOUT),
    (2.5, 0.060, oc.OK),
]


def test_phase_statistics() -> None:
    stats = phase_stats("p", 0.0, 2.0, trace(ROWS), ready_min=2)
    assert stats["requests"] == 7
    assert stats["availability"] == pytest.approx(5 / 7)
    assert stats["error_rate"] == pytest.approx(2 / 7)
    assert stats["cache_share"] == pytest.approx(1 / 7)
    assert stats["fallback_share"] == pytest.approx(3 / 7)  # cache, default features, hung model
    assert stats["wrong_rate"] == pytest.approx(1 / 5)
    assert stats["throughput"] == pytest.approx(5 / 2.0)
    assert stats["latency_p50"] == pytest.approx(0.03)
    assert stats["latency_all_p50"] == pytest.approx(0.03)
    assert stats["latency_p99"] == pytest.approx(np.quantile([0.01, 0.02, 0.03, 0.04, 0.05], 0.99))
    assert stats["ready_pods_min"] == 2
    assert stats.errors == {"refused": 1, "reset": 0, "timeout": 1, "overload": 0, "unavailable": 0}
    assert stats.fallback_reasons == {"features": 1, "model_error": 0, "model_timeout": 1}


def test_the_wrong_rate_counts_each_way_of_answering_at_its_own_error_share() -> None:
    quality = ModelQuality(primary=0.02, fallback_model=0.1, default_features=0.4)
    stats = phase_stats("p", 0.0, 2.0, trace(ROWS), ready_min=2, quality=quality)
    # successes: fresh and cached (primary), default features, hung (fallback model), injected wrong
    expected = (2 * 0.02 + 0.4 + 0.1 + (1 - 0.02)) / 5
    assert stats["wrong_rate"] == pytest.approx(expected)
    assert expected_wrong(np.array([], dtype=np.int64), quality) == 0.0


def test_a_phase_without_requests_has_undefined_shares() -> None:
    stats = phase_stats("empty", 5.0, 6.0, trace(ROWS), ready_min=3)
    assert stats["requests"] == 0
    assert math.isnan(stats["availability"]) and math.isnan(stats["latency_p95"])


def test_per_second_series() -> None:
    events = (Event(1.5, "pod-not-ready", 0), Event(1.7, "pod-ready", 0), Event(2.2, "pod-not-ready", 1))
    series = second_series(trace(ROWS, events), horizon=3.5)
    assert series["requests"].tolist() == [4, 3, 1, 0]
    assert series["availability"][:3].tolist() == [1.0, pytest.approx(1 / 3), 1.0]
    assert math.isnan(series["availability"][3])
    assert series["cache_share"][0] == 0.25
    assert series["fallback_share"][0] == 0.75
    assert series["latency_p50"][0] == pytest.approx(0.02)  # nearest rank of 10, 20, 30, 40 ms
    assert series["latency_p99"][0] == pytest.approx(0.04)
    assert series["throughput"].tolist() == [4.0, 1.0, 1.0, 0.0]
    assert series["ready_pods"].tolist() == [3, 2, 2, 2]


def test_recovery_waits_for_ready_pods_and_healthy_seconds() -> None:
    requests = np.full(30, 100.0)
    successes = requests.copy()
    successes[10:16] = 50.0  # an outage while the fault lasts (10 .. 14.5) and a bit after
    ready_t, ready_n = np.array([0.0, 12.0, 17.5]), np.array([3, 2, 3])
    # the last unhealthy second is 15 -> availability back at 16; pods back at 17.5 -> 17.5 - 14.5
    assert recovery_time(requests, successes, ready_t, ready_n, 3, 10.0, 14.5, 30.0) == pytest.approx(3.0)
    # pods back first: the availability decides
    early = np.array([0.0, 12.0, 13.0])
    assert recovery_time(requests, successes, early, ready_n, 3, 10.0, 14.5, 30.0) == pytest.approx(1.5)


def test_a_rolling_update_recovers_when_its_last_old_pod_goes_though_the_ready_count_never_moved() -> None:
    requests = np.full(60, 100.0)
    steps = (np.array([0.0]), np.array([10]))  # surge pods keep ten ready all the time
    assert recovery_time(requests, requests, *steps, 10, 10.0, 20.0, 60.0) == 0.0
    assert recovery_time(requests, requests, *steps, 10, 10.0, 20.0, 60.0, settled=42.0) == pytest.approx(
        22.0
    )
    # a pod change before the fault ended says nothing
    assert recovery_time(requests, requests, *steps, 10, 10.0, 20.0, 60.0, settled=15.0) == 0.0


def test_recovery_tolerates_one_point_below_the_baseline_level() -> None:
    requests = np.full(20, 200.0)
    successes = requests * 0.999
    successes[5:8] = 0.0
    successes[12] = 200.0 * (0.999 - TOLERANCE / 2)  # a noisy second after the fault: still healthy
    steps = (np.array([0.0]), np.array([3]))
    assert recovery_time(requests, successes, *steps, 3, 5.0, 8.0, 20.0) == 0.0


def test_no_recovery_when_the_fault_lasts_to_the_end_or_pods_stay_missing() -> None:
    requests = np.full(10, 10.0)
    ok = requests.copy()
    ok[-1] = 0.0
    steps = (np.array([0.0]), np.array([3]))
    assert recovery_time(requests, requests, *steps, 3, 2.0, 10.0, 10.0) is None
    assert recovery_time(requests, ok, *steps, 3, 2.0, 5.0, 10.0) is None  # the last second is sick
    missing = (np.array([0.0, 3.0]), np.array([3, 2]))
    assert recovery_time(requests, requests, *missing, 3, 2.0, 5.0, 10.0) is None


def test_summary_of_a_replication() -> None:
    prof = profile(replicas=3)
    scenario = Scenario(
        (Phase("baseline", 0, 1), Phase("chaos", 1, 2), Phase("recovery", 2, 3)),
        pod_faults=(PodFault("pod-kill", 1.0),),
    )
    events = (Event(1.1, "breaker-open", 0), Event(2.4, "breaker-open", 1))
    rows = [(0.5, 0.01, oc.OK), (1.5, 0.0, oc.REFUSED), (2.5, 0.01, oc.OK)]
    tr = trace(rows)
    tr = Trace(tr.send, tr.start, tr.end, tr.code, Timeline((), 3, 3.0, (0.0,) * 3), events)
    rep = summarise(prof, scenario, tr)
    assert [p.name for p in rep.phases] == ["baseline", "chaos", "recovery"]
    assert rep.metric("availability", "chaos") == 0.0
    assert rep.breaker_first_trip == pytest.approx(0.1)  # no store fault: from the first fault's start
    assert rep.breaker_trips == 2
    assert (
        rep.recovery_time == 1.0
    )  # the refused request makes second 1 sick: back at 2, the fault ended at 1
    assert len(rep.seconds["availability"]) == 3
    with pytest.raises(SimulationError, match="metric='p95' is not one of"):
        rep.metric("p95", "chaos")
    with pytest.raises(SimulationError, match="is per phase"):
        rep.metric("availability")
    with pytest.raises(SimulationError, match="must be None"):
        rep.metric("recovery_time", "chaos")


def test_the_replications_recovery_sees_the_pods_as_the_runners_samples_do() -> None:
    # a pod failed from 1 s to 2 s is ready again at 5.2 s: the runner, sampling every second
    # from the run's start, sees it at 6 s, so the run measures 4 s after the fault, not 3.2
    prof = profile(replicas=3)
    scenario = Scenario(
        (Phase("baseline", 0, 1), Phase("chaos", 1, 2), Phase("recovery", 2, 10)),
        pod_faults=(PodFault("pod-failure", 1.0, 1.0),),
    )
    events = (Event(1.0, "pod-not-ready", 0), Event(5.2, "pod-ready", 0))
    rows = [(t + 0.5, 0.01, oc.OK) for t in range(10)]
    tr = trace(rows)
    timeline = Timeline(events, 3, 10.0, (0.0,) * 3)
    rep = summarise(prof, scenario, Trace(tr.send, tr.start, tr.end, tr.code, timeline, ()))
    assert rep.recovery_time == pytest.approx(4.0)
    assert as_sampled(np.array([0.0, 5.2, 6.0, 6.0000001])).tolist() == pytest.approx([0.0, 6.0, 6.0, 7.0])


def test_a_lone_noisy_second_long_after_the_fault_does_not_undo_a_recovery() -> None:
    requests = np.full(40, 100.0)
    successes = requests.copy()
    successes[10:13] = 0.0  # the outage: fault from 10 to 12.5
    successes[14] = 50.0  # not yet stable: one more bad second
    successes[30] = 90.0  # background noise much later
    steps = (np.array([0.0]), np.array([3]))
    # seconds 15..19 are the first five healthy ones in a row: back at 15, 2.5 s after the fault
    assert recovery_time(requests, successes, *steps, 3, 10.0, 12.5, 40.0) == pytest.approx(2.5)


def test_a_replication_draws_its_wrong_answers_as_binomial_counts() -> None:
    """Which entities a run asks about makes its wrong share vary like a binomial count: the drawn
    counts average to the expected share and spread as sqrt(n p (1 - p))."""
    quality = ModelQuality(primary=0.02, fallback_model=0.1, default_features=0.4)
    model = np.array([oc.PRIMARY] * 5000 + [oc.FALLBACK_FEATURES] * 500, dtype=np.int64)
    rng = np.random.default_rng(7)
    draws = np.array([sampled_wrong(model, quality, rng) for _ in range(4000)])
    expected = expected_wrong(model, quality)
    assert expected == pytest.approx(5000 * 0.02 + 500 * 0.4)
    assert draws.mean() == pytest.approx(expected, rel=0.01)
    sd = math.sqrt(5000 * 0.02 * 0.98 + 500 * 0.4 * 0.6)
    assert draws.std() == pytest.approx(sd, rel=0.05)
