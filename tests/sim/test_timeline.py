"""The cluster timeline: exact times of pod lifecycle and load-balancer changes under pod chaos."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import simpy

from chaos.system import Lifecycle, Probe
from sim.scenario import PodFault
from sim.timeline import Cluster, Timeline, play_timeline
from tests.sim.builders import profile, run_for


def times(timeline: Timeline, kind: str) -> list[float]:
    return [e.time for e in timeline.events if e.kind == kind]


def play(faults: tuple[PodFault, ...], offset: float = 0.5, seconds: float = 60.0, **kw: object) -> Timeline:
    prof = profile(**kw)  # type: ignore[arg-type]
    n = prof.service.replicas
    return play_timeline(prof, run_for(seconds, pod_faults=faults), np.random.default_rng(1), [offset] * n)


def test_pod_failure_is_noticed_after_three_failed_checks_and_back_after_restart_and_one_check() -> None:
    # checks at 10.5, 12.5, 14.5 fail -> out at 14.5; the fault ends at 15, the container restarts and
    # serves at 15 + 4 = 19; the check at 20.5 passes -> back in rotation at 20.5
    tl = play((PodFault("pod-failure", 10.0, 5.0, "one"),))
    assert times(tl, "inject") == [10.0]
    assert times(tl, "pod-down") == [10.0]
    assert times(tl, "lb-out") == [14.5]
    assert times(tl, "recover") == [15.0]
    assert times(tl, "pod-up") == [19.0]
    assert times(tl, "lb-in") == [20.5]
    assert times(tl, "pod-not-ready") == [10.0]  # the kubelet sees its container restart at once
    assert times(tl, "pod-ready") == [20.5]
    downs = [e.pod for e in tl.events if e.pod is not None]
    assert len(set(downs)) == 1


def test_pod_failure_is_not_recreated_while_it_lasts() -> None:
    tl = play((PodFault("pod-failure", 10.0, 30.0, "one"),))
    assert times(tl, "pod-up") == [44.0]  # 10 + 30 + startup 4, nothing in between


def test_pod_failure_without_duration_lasts_to_the_end() -> None:
    tl = play((PodFault("pod-failure", 10.0, None, "one"),))
    assert times(tl, "recover") == []
    assert times(tl, "pod-up") == []
    assert times(tl, "lb-out") == [14.5]


def test_a_check_at_the_instant_the_pod_comes_up_still_fails() -> None:
    # checks at 11, 13, 15 fail (out at 15); the pod serves after 19.0, when a check runs: the check
    # at 21 is the first to pass (the kubelet's probe, on the same phase here, likewise)
    tl = play((PodFault("pod-failure", 10.0, 5.0, "one"),), offset=1.0)
    assert times(tl, "lb-out") == [15.0]
    assert times(tl, "pod-up") == [19.0]
    assert times(tl, "lb-in") == [21.0]
    assert times(tl, "pod-ready") == [21.0]


def test_success_threshold_needs_consecutive_passing_checks() -> None:
    prof = profile(readiness=Probe(period=2.0, failure_threshold=3, success_threshold=2))
    tl = play_timeline(
        prof,
        run_for(60.0, pod_faults=(PodFault("pod-failure", 10.0, 5.0, "one"),)),
        np.random.default_rng(1),
        [0.5] * 3,
    )
    assert times(tl, "lb-in") == [22.5]  # passes at 20.5 and 22.5
    assert times(tl, "pod-ready") == [22.5]


def test_pod_kill_recreates_after_schedule_delay_and_startup() -> None:
    # new pod serves at 10 + 1 + 4 = 15; the LB had taken it out at 14.5 and puts it back at 16.5
    tl = play((PodFault("pod-kill", 10.0, None, "one"),))
    assert times(tl, "pod-down") == [10.0]
    assert times(tl, "pod-up") == [15.0]
    assert times(tl, "lb-out") == [14.5]
    assert times(tl, "lb-in") == [16.5]


def test_pod_kill_faster_than_detection_never_leaves_rotation() -> None:
    # checks at 11.5 and 13.5 fail, 15.5 passes: the LB never takes the pod out
    tl = play((PodFault("pod-kill", 10.0, None, "one"),), offset=1.5)
    assert times(tl, "pod-up") == [15.0]
    assert times(tl, "lb-out") == []
    assert tl.rotation_steps()[1].min() == 3
    # the new pod has a probe worker of its own from its container's start at 11: probes at 11, 13
    # and 15 (its start-up ends that instant: it serves after) fail, the one at 17 passes
    assert times(tl, "pod-not-ready") == [10.0]
    assert times(tl, "pod-ready") == [17.0]
    assert tl.ready_min(0.0, 60.0) == 2


def test_a_new_pods_probes_start_with_its_container_whatever_the_old_pods_phase() -> None:
    life = Lifecycle(schedule_delay=1.0, startup_time=3.0, restart_backoff=10.0, restart_backoff_max=300.0)
    for offset in (0.2, 1.0, 1.9):
        tl = play((PodFault("pod-kill", 10.0, None, "one"),), offset=offset, lifecycle=life)
        # container starts at 11, serves at 14; probes at 11, 13 fail, 15 passes
        assert times(tl, "pod-up") == [14.0]
        assert times(tl, "pod-ready") == [15.0]


def test_a_restarted_container_keeps_its_pods_probe_phase() -> None:
    # pod-failure from 10 s for 5 s: the container serves again at 19; the pod's probes stay on
    # its grid (0.5 + 2k for the LB, 1.2 + 2k for the kubelet): ready at 19.2, in rotation at 20.5
    prof = profile()
    n = prof.service.replicas
    fault = PodFault("pod-failure", 10.0, 5.0, "one")
    env_tl = play_timeline(prof, run_for(60.0, pod_faults=(fault,)), np.random.default_rng(1), [0.5] * n)
    env = simpy.Environment()
    cluster = Cluster(env, prof, [0.5] * n, kubelet_offsets=[1.2] * n)
    cluster.inject(fault, np.random.default_rng(1), 60.0)
    env.run(until=60.0)
    ready = [e.time for e in cluster.events if e.kind == "pod-ready"]
    lb_in = [e.time for e in cluster.events if e.kind == "lb-in"]
    assert ready == [pytest.approx(19.2)]
    assert lb_in == [20.5]
    assert times(env_tl, "pod-ready") == [20.5]  # the same phase for both when only `offsets` is given


def test_container_kill_backs_off_like_the_kubelet() -> None:
    life = Lifecycle(schedule_delay=1.0, startup_time=4.0, restart_backoff=10.0, restart_backoff_max=15.0)
    faults = tuple(PodFault("container-kill", t, None, "one") for t in (10.0, 20.0, 40.0, 100.0))
    tl = play(faults, seconds=200.0, replicas=1, lifecycle=life)
    # CrashLoopBackOff: the first crash restarts at once, then 10 s, then 20 s capped at 15 s; the
    # container that ran 41 s (>= 2 x 15 s) before the fourth crash starts the count again. Each
    # restart serves 4 s (start-up) later.
    assert times(tl, "pod-down") == [10.0, 20.0, 40.0, 100.0]
    assert times(tl, "pod-up") == [14.0, 34.0, 59.0, 104.0]


def test_pod_kill_resets_the_container_back_off() -> None:
    faults = (
        PodFault("container-kill", 10.0, None, "one"),
        PodFault("pod-kill", 20.0, None, "one"),
        PodFault("container-kill", 30.0, None, "one"),
    )
    tl = play(faults, seconds=200.0, replicas=1)
    assert times(tl, "pod-up") == [14.0, 25.0, 34.0]  # the new pod's first crash restarts at once


def test_pod_kill_during_pod_failure_brings_an_unpaused_pod() -> None:
    faults = (PodFault("pod-failure", 10.0, 30.0, "all"), PodFault("pod-kill", 20.0, None, "all"))
    tl = play(faults, replicas=1)
    assert times(tl, "pod-up") == [25.0]  # the replacement serves; the failure's end changes nothing
    assert times(tl, "pod-down") == [10.0]


@pytest.mark.parametrize(
    ("mode", "value", "count"),
    [
        ("one", None, 1),
        ("all", None, 10),
        ("fixed", "4", 4),
        ("fixed-percent", "30", 3),
        ("fixed-percent", "1", 1),
    ],
)
def test_selector_modes_pick_that_many_pods(mode: str, value: str | None, count: int) -> None:
    tl = play((PodFault("pod-failure", 10.0, 5.0, mode, value),), replicas=10)
    assert len(times(tl, "pod-down")) == count
    assert tl.ready_min(0.0, 60.0) == 10 - count


def test_random_max_percent_picks_at_most_its_share() -> None:
    counts = set()
    for seed in range(40):
        prof = profile(replicas=10)
        fault = PodFault("pod-kill", 10.0, None, "random-max-percent", "50")
        tl = play_timeline(prof, run_for(20.0, pod_faults=(fault,)), np.random.default_rng(seed), [0.5] * 10)
        counts.add(len(times(tl, "pod-down")))
    assert counts <= set(range(6))
    assert len(counts) > 2


def test_which_pods_are_picked_depends_on_the_seed_only() -> None:
    prof = profile(replicas=10)
    scenario = run_for(30.0, pod_faults=(PodFault("pod-failure", 5.0, 5.0, "fixed", "3"),))

    def picked(seed: int) -> str:
        tl = play_timeline(prof, scenario, np.random.default_rng(seed))
        return next(e.detail for e in tl.events if e.kind == "inject")

    assert picked(7) == picked(7)
    assert len({picked(s) for s in range(10)}) > 1


def test_ready_pods_over_time() -> None:
    tl = play((PodFault("pod-failure", 10.0, 5.0, "fixed", "2"),))
    steps_t, steps_n = tl.ready_steps()
    assert list(steps_t) == [0.0, 10.0, 10.0, 20.5, 20.5]
    assert list(steps_n) == [3, 2, 1, 2, 3]
    assert tl.ready_min(0.0, 10.0) == 3
    assert tl.ready_min(10.0, 20.5) == 1
    assert tl.ready_min(20.5, 60.0) == 3
    rotation_t, rotation_n = tl.rotation_steps()
    assert list(rotation_t) == [0.0, 14.5, 14.5, 20.5, 20.5]
    assert list(rotation_n) == [3, 2, 1, 2, 3]


def test_random_check_phases_are_within_one_period() -> None:
    prof = replace(profile(replicas=50), readiness=Probe(period=3.0, failure_threshold=2))
    tl = play_timeline(prof, run_for(10.0), np.random.default_rng(3))
    assert len(tl.offsets) == 50
    assert all(0.0 <= o < 3.0 for o in tl.offsets)
    assert len(set(tl.offsets)) == 50
