"""Feature-store faults: netem-style delay, loss and partition, and what a call costs under them."""

from __future__ import annotations

import numpy as np
import pytest

from chaos.system import CircuitBreaker as BreakerConfig
from sim import outcomes as oc
from sim.netem import DelayDraws, LossDraws
from sim.replication import simulate
from sim.scenario import StoreFault
from sim.store import LOST, Connections, StoreFaults
from tests.sim.builders import profile, run_for


def lag1(x: np.ndarray) -> float:
    return float(np.corrcoef(x[:-1], x[1:])[0, 1])


def test_delay_is_normal_around_latency_with_the_given_correlation() -> None:
    draws = DelayDraws(0.5, 0.1, 0.25, np.random.default_rng(0))
    x = np.array(draws(50_000) + draws(50_000))  # across blocks the sequence continues
    assert x.mean() == pytest.approx(0.5, abs=0.002)
    assert x.std() == pytest.approx(0.1, rel=0.02)
    assert lag1(x) == pytest.approx(0.25, abs=0.02)


def test_delay_never_goes_below_zero() -> None:
    x = np.array(DelayDraws(0.01, 0.1, 0.0, np.random.default_rng(0))(10_000))
    assert x.min() == 0.0
    assert (x == 0.0).mean() == pytest.approx(0.46, abs=0.02)  # P(N(0.01, 0.1) < 0)


def test_delay_without_jitter_is_constant() -> None:
    assert DelayDraws(0.2, 0.0, 0.5, np.random.default_rng(0))(5) == [0.2] * 5


@pytest.mark.parametrize("rho", [0.0, 0.5])
def test_loss_drops_its_share_with_the_given_correlation(rho: float) -> None:
    draws = LossDraws(0.3, rho, np.random.default_rng(1))
    x = np.array(draws(60_000) + draws(60_000), dtype=float)
    assert x.mean() == pytest.approx(0.3, abs=0.01)
    assert lag1(x) == pytest.approx(rho, abs=0.02)


def test_total_loss_drops_everything() -> None:
    assert LossDraws(1.0, 0.0, np.random.default_rng(0))(100) == [True] * 100


def test_calls_outside_the_fault_window_cost_their_base_latency() -> None:
    store = StoreFaults((StoreFault("delay", 10.0, 5.0, latency=0.3),), 60.0, np.random.default_rng(0))
    assert store.call_time(9.99, 0.002) == 0.002
    assert store.call_time(10.0, 0.002) == pytest.approx(0.302)
    assert store.call_time(15.0, 0.002) == 0.002
    assert (store.start, store.end) == (10.0, 15.0)


def test_partition_loses_every_call_while_it_lasts() -> None:
    faults = (
        StoreFault("partition", 10.0, 5.0),
        StoreFault("delay", 0.0, None, latency=0.05),
    )
    store = StoreFaults(faults, 60.0, np.random.default_rng(0))
    assert store.call_time(12.0, 0.001) == LOST
    assert store.call_time(20.0, 0.001) == pytest.approx(0.051)
    assert (store.start, store.end) == (0.0, 60.0)


def test_no_faults_is_falsy() -> None:
    assert not StoreFaults((), 60.0, np.random.default_rng(0))


def test_lost_calls_cost_the_call_timeout_and_fall_back() -> None:
    # a breaker that never opens, 30 % of calls lost from t = 10: those wait 0.1 s, then the cache
    prof = profile(
        replicas=10, concurrency=8, users=20, rps=200.0, breaker=BreakerConfig(failure_threshold=10**6)
    )
    scenario = run_for(60.0, store_faults=(StoreFault("loss", 10.0, None, loss=0.3),))
    tr = simulate(prof, scenario, np.random.default_rng(8), [0.5] * 10)
    during = tr.send >= 10.0
    lost = oc.features(tr.code) != oc.LIVE
    assert not lost[~during].any()
    # a timed-out call closes its connection and its successor may have to connect: more than 30 %
    assert 0.3 < lost[during].mean() < 0.51
    assert np.allclose(tr.latency[lost], 0.15)  # the 0.1 s call timeout + 0.05 s service
    assert np.allclose(tr.latency[~lost], 0.05)


def test_a_timed_out_call_closes_its_connection_and_the_next_must_connect_through_the_loss() -> None:
    # one pod, one user, one call at a time: one connection. After a success it is reused (the
    # reply is lost with 30 %); after a timeout the next call connects first, and the handshake is
    # lost like a segment: it fails with 1 - 0.7 * 0.7 = 51 %. Stationary: 0.3 / (1 - 0.51 + 0.3).
    prof = profile(
        replicas=1, concurrency=1, users=1, rps=5.0, breaker=BreakerConfig(failure_threshold=10**6)
    )
    scenario = run_for(2000.0, store_faults=(StoreFault("loss", 0.0, None, loss=0.3),))
    tr = simulate(prof, scenario, np.random.default_rng(4), [0.5])
    lost = oc.features(tr.code) != oc.LIVE
    after_ok, after_lost = lost[1:][~lost[:-1]], lost[1:][lost[:-1]]
    assert after_ok.mean() == pytest.approx(0.30, abs=0.02)
    assert after_lost.mean() == pytest.approx(0.51, abs=0.03)
    assert lost.mean() == pytest.approx(0.3 / 0.79, abs=0.02)


def test_connections_are_reused_when_idle_closed_by_a_timeout_and_opened_when_none_is_idle() -> None:
    pool = Connections(1)
    assert pool.take(0, 0.0) is None  # none open yet: connect
    pool.release(0, None, 0.01, timed_out=False)
    assert pool.take(0, 0.005) is None  # the only one is busy until 0.01
    pool.release(0, None, 0.02, timed_out=False)
    assert pool.busy[0] == [0.01, 0.02] and pool.take(0, 0.015) == 0
    pool.release(0, 0, 0.1, timed_out=True)  # timed out: its connection is closed
    assert pool.busy[0] == [0.02]
    pool.reset(0)
    assert pool.take(0, 1.0) is None


def test_a_lost_segment_is_retransmitted_after_tcps_timeout_doubling() -> None:
    store = StoreFaults((StoreFault("loss", 0.0, None, loss=0.5),), 60.0, np.random.default_rng(3))
    costs = np.array([store.call_time(1.0, 0.001) for _ in range(20_000)])
    extra = np.round(costs[costs != LOST] - 0.001, 6)
    assert set(np.unique(extra)) <= {0.0, 0.2, 0.6, 1.4, 3.0, 6.2, 12.6, 25.4, 51.0}
    assert np.mean(costs == LOST) < 0.005  # nine losses in a row: retransmitting past a minute
    assert np.mean(costs == 0.001) == pytest.approx(0.5, abs=0.015)
    assert np.mean(extra == 0.2) == pytest.approx(0.25, abs=0.015)
    assert np.mean(extra == 0.6) == pytest.approx(0.125, abs=0.01)


def test_total_loss_never_gets_through() -> None:
    store = StoreFaults((StoreFault("loss", 0.0, None, loss=1.0),), 60.0, np.random.default_rng(3))
    assert store.call_time(1.0, 0.001) == LOST


def test_of_several_delays_the_largest_applies() -> None:
    faults = (StoreFault("delay", 0.0, None, latency=0.05), StoreFault("delay", 0.0, None, latency=0.3))
    store = StoreFaults(faults, 60.0, np.random.default_rng(0))
    assert store.call_time(1.0, 0.001) == pytest.approx(0.301)
