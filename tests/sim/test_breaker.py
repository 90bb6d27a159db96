"""The circuit breaker: its state machine, deferred outcomes, and its effect on requests in the kernel."""

from __future__ import annotations

import numpy as np
import pytest

from chaos.system import CircuitBreaker as BreakerConfig
from sim import outcomes as oc
from sim.breaker import CALL, CLOSED, HALF_OPEN, OPEN, REJECT, TRIAL, CircuitBreaker, DeferredBreaker
from sim.replication import simulate
from sim.result import summarise
from sim.scenario import StoreFault
from tests.sim.builders import profile, run_for

CONFIG = BreakerConfig(failure_threshold=3, slow_call=0.08, reset_timeout=10.0, half_open_successes=2)


def recorder() -> tuple[list[tuple[float, str]], CircuitBreaker]:
    moves: list[tuple[float, str]] = []
    return moves, CircuitBreaker(CONFIG, lambda now, state: moves.append((now, state)))


def test_opens_after_consecutive_failures_only() -> None:
    moves, b = recorder()
    for now, failed in [(1.0, True), (2.0, True), (3.0, False), (4.0, True), (5.0, True), (6.0, True)]:
        assert b.allow(now) == CALL
        b.record(now, failed, trial=False)
    assert moves == [(6.0, OPEN)]
    assert b.allow(15.9) == REJECT


def test_half_open_lets_one_trial_through_at_a_time_and_closes_after_enough_successes() -> None:
    moves, b = recorder()
    for now in (1.0, 2.0, 3.0):
        b.record(now, True, trial=False)
    assert b.allow(13.0) == TRIAL  # reset timeout over: half-open since 13.0
    assert b.allow(13.1) == REJECT  # the trial is still in flight
    b.record(13.2, False, trial=True)
    assert b.allow(13.3) == TRIAL
    b.record(13.4, False, trial=True)
    assert b.state == CLOSED
    assert moves == [(3.0, OPEN), (13.0, HALF_OPEN), (13.4, CLOSED)]


def test_a_failed_trial_opens_it_again() -> None:
    moves, b = recorder()
    for now in (1.0, 2.0, 3.0):
        b.record(now, True, trial=False)
    assert b.allow(20.0) == TRIAL
    b.record(20.1, True, trial=True)
    assert moves[-1] == (20.1, OPEN)
    assert b.allow(30.0) == REJECT
    assert b.allow(30.1) == TRIAL


def test_late_outcomes_of_calls_made_before_it_opened_are_ignored() -> None:
    _, b = recorder()
    for now in (1.0, 2.0, 3.0):
        b.record(now, True, trial=False)
    b.record(3.5, False, trial=False)
    assert b.state == OPEN


def test_deferred_outcomes_are_applied_in_completion_order() -> None:
    moves: list[tuple[float, str]] = []
    deferred = DeferredBreaker(CircuitBreaker(CONFIG, lambda now, state: moves.append((now, state))))
    # known when the calls start, out of completion order: F@1.3, S@1.1, F@1.2, F@1.4
    deferred.add(1.3, True, False)
    deferred.add(1.1, False, False)
    deferred.add(1.2, True, False)
    assert deferred.allow(1.25) == CALL and not deferred.quiet
    deferred.add(1.4, True, False)
    assert deferred.allow(1.45) == REJECT
    assert moves == [(1.4, OPEN)]


def test_breaker_opens_after_exactly_five_timeouts_and_tries_again_after_the_reset_timeout() -> None:
    # one pod, one user every 0.5 s; the store is partitioned from t = 10: every call times out after
    # 0.1 s. Calls at 10.0 ... 12.0 fail at 10.1 ... 12.1: the fifth opens the breaker at 12.1.
    prof = profile(replicas=1, concurrency=1, users=1, rps=2.0)
    scenario = run_for(50.0, store_faults=(StoreFault("partition", 10.0, None),))
    tr = simulate(prof, scenario, np.random.default_rng(0), [0.5])
    moves = [(e.time, e.kind) for e in tr.breaker_events]
    assert moves[0] == (12.1, "breaker-open")
    assert moves[1] == (42.1, "breaker-half-open")
    assert moves[2] == (42.6, "breaker-open")  # the trial at 42.5 times out too
    latency = dict(zip(tr.send.tolist(), tr.latency.tolist(), strict=True))
    assert latency[12.0] == pytest.approx(0.15)  # failed call (0.1) + service (0.05)
    assert latency[12.5] == pytest.approx(0.05)  # breaker open: no call
    assert latency[42.5] == pytest.approx(0.15)  # the trial call
    features = oc.features(tr.code)
    assert (features[tr.send < 10.0] == oc.LIVE).all()
    assert (features[tr.send >= 10.0] != oc.LIVE).all()
    assert summarise(prof, scenario, tr).breaker_first_trip == pytest.approx(2.1)


def test_breaker_closes_when_the_trial_succeeds() -> None:
    prof = profile(replicas=1, concurrency=1, users=1, rps=2.0)
    scenario = run_for(50.0, store_faults=(StoreFault("partition", 10.0, 30.0),))
    tr = simulate(prof, scenario, np.random.default_rng(0), [0.5])
    moves = [(e.time, e.kind) for e in tr.breaker_events]
    assert moves == [(12.1, "breaker-open"), (42.1, "breaker-half-open"), (42.5, "breaker-closed")]
    assert (oc.features(tr.code)[tr.send >= 42.5] == oc.LIVE).all()


def test_slow_calls_count_against_the_breaker_but_still_bring_features() -> None:
    # 90 ms injected delay: slower than the 80 ms slow-call limit, within the 100 ms call timeout
    prof = profile(replicas=1, concurrency=1, users=1, rps=2.0)
    scenario = run_for(20.0, store_faults=(StoreFault("delay", 10.0, None, latency=0.09),))
    tr = simulate(prof, scenario, np.random.default_rng(0), [0.5])
    assert tr.breaker_events[0].time == pytest.approx(12.09)
    live = oc.features(tr.code) == oc.LIVE
    assert live[(tr.send >= 10.0) & (tr.send <= 12.0)].all()
    assert not live[tr.send > 12.0].any()
    assert np.allclose(tr.latency[(tr.send >= 10.0) & (tr.send <= 12.0)], 0.14)


def test_without_live_features_the_cache_answers_at_its_hit_rate() -> None:
    prof = profile(replicas=2, users=20, rps=200.0)
    scenario = run_for(60.0, store_faults=(StoreFault("partition", 0.0, None),))
    tr = simulate(prof, scenario, np.random.default_rng(4), [0.5, 1.5])
    features = oc.features(tr.code)
    assert (oc.status(tr.code) == oc.OK).all()
    assert (features != oc.LIVE).all()
    assert abs(np.mean(features == oc.CACHE) - prof.cache.hit_rate) < 0.01
    fallback = oc.model(tr.code)[features == oc.DEFAULT]
    assert (fallback == oc.FALLBACK_FEATURES).all()
