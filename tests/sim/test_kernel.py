"""The request kernel, scenario by scenario, with exact times (constant service and store times)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from chaos import pacing
from chaos.system import SystemProfile
from sim import outcomes as oc
from sim.reference import simulate_reference
from sim.replication import simulate
from sim.scenario import PodFault, Scenario
from sim.trace import Trace
from tests.sim.builders import constant, profile, run_for


def at(user: int, period: float) -> float:
    """When closed-loop `user` first sends: its golden-ratio phase of the period (chaos.pacing)."""
    return pacing.user_phase(user) * period


def run(prof: SystemProfile, scenario: Scenario, offset: float = 0.5, seed: int = 0) -> Trace:
    offsets = [offset] * prof.service.replicas
    return simulate(prof, scenario, np.random.default_rng(seed), offsets)


def status(trace: Trace) -> np.ndarray:
    return oc.status(trace.code)


def test_closed_users_send_on_their_pacing_period() -> None:
    # 2 users at 4 rps: period 0.5 s, the second user at phase 0.618 of it
    tr = run(profile(users=2, rps=4.0), run_for(2.0))
    sends = [0.0, 0.5, 1.0, 1.5] + [at(1, 0.5) + k * 0.5 for k in range(4)]
    assert tr.send.tolist() == pytest.approx(sorted(sends))
    assert np.allclose(tr.latency, 0.05)
    assert (tr.code == 0).all()


def test_pacing_lateness_delays_every_next_start_and_adds_up() -> None:
    # period 0.5 s, each start 0.1 s later than paced, counted from the last start (Locust's pacing)
    prof = profile(users=1, rps=2.0)
    late = replace(prof, load=replace(prof.load, pacing_lateness=0.1))
    tr = run(late, run_for(2.0))
    assert np.allclose(tr.send, [0.0, 0.6, 1.2, 1.8])
    slow = replace(late, service=replace(late.service, service_time=constant(0.7)))
    assert np.allclose(run(slow, run_for(3.0)).send, [0.0, 0.8, 1.6, 2.4])  # after a slow answer too
    reference = simulate_reference(late, run_for(2.0), np.random.default_rng(0), [0.5] * 3)
    assert np.allclose(reference.send, [0.0, 0.6, 1.2, 1.8])


def test_users_started_late_send_first_at_their_next_grid_point() -> None:
    # period 0.5 s, the load starts 0.4 s into the run: user 0 (grid 0, 0.5, ...) first at 0.5,
    # user 1 (grid 0.309, 0.809, ...) first at 0.809
    prof = profile(users=2, rps=4.0)
    delayed = replace(prof, load=replace(prof.load, start_delay=0.4))
    sends = sorted([0.5, 1.0, 1.5] + [at(1, 0.5) + k * 0.5 for k in (1, 2, 3)])
    assert run(delayed, run_for(2.0)).send.tolist() == pytest.approx(sends)
    reference = simulate_reference(delayed, run_for(2.0), np.random.default_rng(0), [0.5] * 3)
    assert reference.send.tolist() == pytest.approx(sends)


def test_open_arrivals_begin_when_the_load_starts() -> None:
    prof = profile(replicas=10, users=40, rps=200.0, arrival="poisson")
    delayed = replace(prof, load=replace(prof.load, start_delay=3.0))
    for trace in (
        run(delayed, run_for(10.0)),
        simulate_reference(delayed, run_for(10.0), np.random.default_rng(0), [0.5] * 10),
    ):
        assert trace.send.min() >= 3.0
        assert len(trace.send) == pytest.approx(7.0 * 200, rel=0.05)


def test_each_replication_draws_where_the_loads_grid_sits() -> None:
    """The load's clock is not the run's: seen from the run its grid sits at a shift of its own,
    the same for every user, drawn per replication (the kernel and the reference alike)."""
    prof = profile(users=3, rps=6.0)
    shifts = []
    for seed in range(20):
        trace = simulate(prof, run_for(2.0), np.random.default_rng(seed))
        shift = trace.timeline.load_shift
        firsts = [pacing.first_start(pacing.user_phase(u, shift), 0.5, 0.0) for u in range(3)]
        assert trace.send.tolist() == pytest.approx(
            sorted(t + k * 0.5 for t in firsts for k in range(4) if t + k * 0.5 < 2.0)
        )
        reference = simulate_reference(prof, run_for(2.0), np.random.default_rng(seed))
        assert reference.timeline.load_shift == shift
        shifts.append(shift)
    assert 0.0 <= min(shifts) < 0.2 and 0.8 < max(shifts) < 1.0


def test_a_slow_answer_delays_the_users_next_request() -> None:
    # period 0.5 s, answers take 0.7 s: the next request starts as soon as the answer is in
    tr = run(profile(users=1, rps=2.0, service=0.7, concurrency=1), run_for(3.0))
    assert np.allclose(tr.send, [0.0, 0.7, 1.4, 2.1, 2.8])


def test_full_queue_answers_overload_at_once() -> None:
    # one slot, one queue place, answers take 1 s; three users in one 0.01 s period: user 0 at 0,
    # user 2 at 0.0024, user 1 at 0.0062 (their golden-ratio phases)
    prof = profile(
        replicas=1, concurrency=1, max_queue=1, service=1.0, users=3, rps=300.0, request_timeout=5.0
    )
    tr = run(prof, run_for(0.01))
    third = at(1, 0.01)
    assert status(tr).tolist() == [oc.OK, oc.OK, oc.OVERLOAD]
    assert np.allclose(tr.start, [0.0, 1.0, third])
    assert np.allclose(tr.end, [1.0, 2.0, third])


def test_no_queue_means_overload_whenever_every_slot_is_busy() -> None:
    prof = profile(replicas=1, concurrency=2, max_queue=0, service=1.0, users=3, rps=300.0)
    tr = run(prof, run_for(0.01))
    assert status(tr).tolist() == [oc.OK, oc.OK, oc.OVERLOAD]


def test_request_timeout_counts_queueing() -> None:
    # one slot, answers take 0.6 s, server deadline 1 s from arrival
    prof = profile(replicas=1, concurrency=1, service=0.6, users=2, rps=200.0, request_timeout=1.0)
    tr = run(prof, run_for(0.61))
    # user 0 at 0: served 0 -> 0.6. user 1 at 0.0062: waits until 0.6, would end at 1.2 > 1.0062: cut.
    # user 0 again at 0.6: waits for the slot until the cut at 1.0062, would end at 1.606 > 1.6: cut.
    cut = 1.0 + at(1, 0.01)
    assert status(tr).tolist() == [oc.OK, oc.TIMEOUT, oc.TIMEOUT]
    assert np.allclose(tr.start, [0.0, 0.6, cut])
    assert np.allclose(tr.end, [0.6, cut, 1.6])


def test_a_cut_request_frees_its_slot_for_the_next_one() -> None:
    prof = profile(replicas=1, concurrency=1, service=3.0, users=2, rps=200.0, request_timeout=1.0)
    tr = run(prof, run_for(0.007))
    assert status(tr).tolist() == [oc.TIMEOUT, oc.TIMEOUT]
    # the first is cut at 1.0 and frees the slot; the second (sent at 0.0062) gets it at 1.0 and is
    # cut at 1.0062
    assert np.allclose(tr.end, [1.0, 1.0 + at(1, 0.01)])
    assert np.allclose(tr.start, [0.0, 1.0])


def test_client_timeout_does_not_free_the_servers_slot() -> None:
    prof = profile(replicas=1, concurrency=1, service=0.8, users=2, rps=8.0, client_timeout=0.5)
    tr = run(prof, run_for(0.3))
    assert status(tr).tolist() == [oc.TIMEOUT, oc.TIMEOUT]
    assert np.allclose(tr.end, [0.5, at(1, 0.25) + 0.5])  # sent at 0 and 0.155, given up after 0.5 s
    assert np.allclose(tr.start, [0.0, 0.8])  # the server worked on the first until 0.8 regardless


def test_pod_failure_refuses_its_share_until_the_load_balancer_notices() -> None:
    # 3 pods round-robin, 30 requests/s; one pod fails at 10 for 5 s, the LB takes it out at 14.5
    prof = profile(replicas=3, users=3, rps=30.0)
    tr = run(prof, run_for(30.0, pod_faults=(PodFault("pod-failure", 10.0, 5.0, "one"),)))
    refused = tr.send[status(tr) == oc.REFUSED]
    assert refused.min() >= 10.0
    assert refused.max() < 14.5
    in_window = int(((tr.send >= 10.0) & (tr.send < 14.5)).sum())
    assert abs(len(refused) - in_window / 3) <= 1  # every third request went to the failed pod
    assert len(tr) == 30 * 30  # refusals come at once: every user keeps its pace throughout
    assert (status(tr)[tr.send >= 14.5] == oc.OK).all()


def test_requests_in_flight_when_the_pod_fails_are_reset_at_that_instant() -> None:
    prof = profile(replicas=1, concurrency=4, service=0.5, users=4, rps=8.0)
    tr = run(prof, run_for(12.0, pod_faults=(PodFault("pod-failure", 10.1, None, "one"),)))
    reset = status(tr) == oc.RESET
    assert reset.sum() == 4  # each user's last request, sent within the 0.5 s before 10.1
    assert np.allclose(tr.end[reset], 10.1)
    last = sorted(10.1 - (10.1 - at(u, 0.5)) % 0.5 for u in range(4))
    assert np.allclose(sorted(tr.send[reset]), last)


def test_no_pod_in_rotation_answers_unavailable() -> None:
    prof = profile(replicas=1, users=1, rps=1.0)
    tr = run(prof, run_for(10.0, pod_faults=(PodFault("pod-failure", 2.0, None, "all"),)))
    by_send = dict(zip(tr.send.tolist(), status(tr).tolist(), strict=True))
    assert by_send == {
        0.0: oc.OK,
        1.0: oc.OK,
        2.0: oc.REFUSED,
        3.0: oc.REFUSED,
        4.0: oc.REFUSED,
        5.0: oc.REFUSED,
        6.0: oc.REFUSED,
        7.0: oc.UNAVAILABLE,  # out of rotation since the check at 6.5
        8.0: oc.UNAVAILABLE,
        9.0: oc.UNAVAILABLE,
    }


def test_pod_kill_is_served_again_by_the_new_pod() -> None:
    # checks at 11.5 and 13.5 fail, the new pod serves from 15 and never left the rotation
    prof = profile(replicas=1, users=1, rps=2.0)
    tr = run(prof, run_for(20.0, pod_faults=(PodFault("pod-kill", 10.0, None, "one"),)), offset=1.5)
    refused = tr.send[status(tr) == oc.REFUSED]
    assert refused.tolist() == [10.0, 10.5, 11.0, 11.5, 12.0, 12.5, 13.0, 13.5, 14.0, 14.5]
    served = tr.send >= 15.0
    assert tr.send[served].tolist() == [15.0 + k / 2 for k in range(10)]
    assert (status(tr)[served] == oc.OK).all()


def test_client_retries_errors_at_once() -> None:
    prof = profile(replicas=1, users=1, rps=1.0, retries=2)
    tr = run(prof, run_for(5.0, pod_faults=(PodFault("pod-failure", 2.0, None, "all"),)))
    assert tr.send.tolist() == [0.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 4.0, 4.0]
    assert (status(tr)[tr.send >= 2.0] == oc.REFUSED).all()


def test_poisson_users_send_at_the_requested_rate() -> None:
    prof = profile(replicas=10, users=40, rps=200.0, arrival="poisson")
    tr = run(prof, run_for(300.0))
    assert len(tr) == pytest.approx(60_000, rel=0.02)
    gaps = np.diff(np.sort(tr.send))
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.03)  # exponential gaps


def test_poisson_users_catch_up_after_a_slow_answer() -> None:
    # one user, 10 requests/s scheduled, every answer takes 1 s: it sends back to back, once a second
    prof = profile(replicas=1, concurrency=1, users=1, rps=10.0, service=1.0, arrival="poisson")
    tr = run(prof, run_for(20.0))
    assert np.allclose(np.diff(tr.send), 1.0)


def test_same_seed_same_trace() -> None:
    prof = profile(replicas=4, users=8, rps=40.0, arrival="poisson")
    scenario = run_for(30.0, pod_faults=(PodFault("pod-failure", 5.0, 10.0, "fixed", "2"),))
    a = simulate(prof, scenario, np.random.default_rng(5))
    b = simulate(prof, scenario, np.random.default_rng(5))
    c = simulate(prof, scenario, np.random.default_rng(6))
    assert np.array_equal(a.send, b.send) and np.array_equal(a.code, b.code) and np.array_equal(a.end, b.end)
    assert not np.array_equal(a.send, c.send)


def test_requests_the_client_gave_up_on_still_hold_their_queue_place() -> None:
    # clients give up after 0.2 s, the server only after 5 s: abandoned requests keep waiting, so two
    # users can fill a queue of two places
    prof = profile(
        replicas=1,
        concurrency=1,
        max_queue=2,
        service=1.0,
        users=2,
        rps=20.0,
        client_timeout=0.2,
        request_timeout=5.0,
    )
    tr = run(prof, run_for(0.27))
    # user 0 at 0 and (given up) again at 0.2; user 1 at 0.062 and again at 0.262: no place left
    assert np.allclose(tr.send, [0.0, at(1, 0.1), 0.2, 0.2 + at(1, 0.1)])
    assert status(tr).tolist() == [oc.TIMEOUT, oc.TIMEOUT, oc.TIMEOUT, oc.OVERLOAD]
