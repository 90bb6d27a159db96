"""ReplicaSet and kubelet semantics as small scenarios on a made-up timeline."""

from __future__ import annotations

import random

import pytest

from chaos.system import Lifecycle, Probe
from testbed.replicaset import (
    LIVENESS,
    READINESS,
    Action,
    Endpoint,
    Kill,
    PodNotFoundError,
    PodTemplate,
    ReplicaSet,
    Start,
)

LIFE = Lifecycle(schedule_delay=1.0, startup_time=0.0, restart_backoff=10.0, restart_backoff_max=40.0)
READY = Probe(period=2.0, failure_threshold=3, success_threshold=1)
LIVE = Probe(period=10.0, failure_threshold=3)


def replicaset(replicas: int = 3, life: Lifecycle = LIFE, surge: int = 0, unavailable: int = 0) -> ReplicaSet:
    template = PodTemplate(
        name="ml-prediction-service",
        namespace="ml-services",
        labels={"app": "ml-prediction-service"},
        container="ml-prediction-service",
        ports=tuple(9000 + i for i in range(replicas)),
        lifecycle=life,
        readiness=READY,
        liveness=LIVE,
        surge_ports=tuple(9100 + i for i in range(surge)),
        max_unavailable=unavailable,
    )
    return ReplicaSet(template, random.Random(7))


def running(rs: ReplicaSet) -> ReplicaSet:
    """Every pod started at t=1 and ready at t=1."""
    rs.reconcile(0.0)
    rs.reconcile(1.0)
    for pod in rs.pods:
        rs.probe_result(pod.name, READINESS, True, 1.0)
    return rs


def test_pods_are_pending_for_the_schedule_delay_then_start_on_their_ports() -> None:
    rs = replicaset()
    assert rs.reconcile(0.0) == []
    assert [p.phase for p in rs.pods] == ["Pending"] * 3
    assert rs.reconcile(0.99) == []
    starts = rs.reconcile(1.0)
    assert starts == [Start(p.name, p.slot, p.port) for p in rs.pods]
    assert [p.port for p in rs.pods] == [9000, 9001, 9002]
    assert all(p.phase == "Running" and not p.ready for p in rs.pods)
    assert len({p.name for p in rs.pods}) == 3
    assert all(p.name.startswith("ml-prediction-service-") for p in rs.pods)


def test_readiness_needs_failure_threshold_failures_to_drop_a_pod() -> None:
    rs = running(replicaset(1))
    name = rs.pods[0].name
    assert rs.available == 1
    rs.probe_result(name, READINESS, False, 3.0)
    rs.probe_result(name, READINESS, False, 5.0)
    assert rs.pods[0].ready
    rs.probe_result(name, READINESS, False, 7.0)
    assert not rs.pods[0].ready
    rs.probe_result(name, READINESS, True, 9.0)
    assert rs.pods[0].ready


def _due(rs: ReplicaSet, now: float) -> list[str]:
    return sorted(c.kind for c in rs.probes_due(now))


def test_probes_of_a_pod_started_later_come_due_at_its_start_then_every_period() -> None:
    rs = running(replicaset(1))
    victim = rs.pods[0]
    rs.delete_pod(victim.name, now=20.0)
    rs.process_gone(0)
    rs.reconcile(21.0)  # the replacement's container starts, 20 s after the kubelet: no wait
    assert _due(rs, 21.0) == [READINESS]
    assert _due(rs, 22.9) == []
    assert _due(rs, 23.0) == [READINESS]
    assert _due(rs, 31.0) == [LIVENESS, READINESS]


def test_pods_found_at_the_kubelets_start_are_probed_out_of_step() -> None:
    rs = replicaset(20)
    rs.reconcile(0.0)
    rs.reconcile(1.0)  # within one period of the kubelet's start: each worker waits a random part
    firsts = [p.readiness.next_at for p in rs.pods]
    assert all(1.0 <= t < 1.0 + READY.period for t in firsts)
    assert len(set(firsts)) == 20
    pod = rs.pods[0]
    assert pod.liveness.next_at == pytest.approx(pod.readiness.next_at + LIVE.period)


def test_a_restarted_container_keeps_its_pods_probe_phase() -> None:
    rs = running(replicaset(1))
    pod = rs.pods[0]
    phase = pod.readiness.next_at % READY.period
    rs.container_exited(pod.name, 30.3)
    assert _due(rs, 30.4 + READY.period) == []  # no container: the ticks probe nothing
    rs.reconcile(30.3)  # the first crash restarts at once
    due_at = [t / 100 for t in range(3040, 3700) if _due(rs, t / 100)]
    assert due_at and all((t - phase) % READY.period < 0.011 for t in due_at)
    assert rs.pods[0].name == pod.name


def test_a_tick_the_prober_missed_is_dropped_not_repeated() -> None:
    rs = running(replicaset(1))
    first = rs.pods[0].readiness.next_at
    assert _due(rs, first + 3 * READY.period + 0.5) == [READINESS]  # one probe for four due ticks
    assert rs.pods[0].readiness.next_at == pytest.approx(first + 4 * READY.period)


def test_a_deleted_pod_is_replaced_by_a_new_pod_after_the_schedule_delay() -> None:
    rs = running(replicaset())
    victim = rs.pods[1]
    actions = rs.delete_pod(victim.name, now=10.0)
    assert actions == [Kill(victim.name, 1, 0.0)]
    replacement = rs.pods[1]
    assert replacement.name != victim.name and replacement.phase == "Pending"
    with pytest.raises(PodNotFoundError):
        rs.pod(victim.name)
    rs.process_gone(1)
    assert rs.reconcile(10.5) == []
    assert rs.reconcile(11.0) == [Start(replacement.name, 1, victim.port)]
    assert replacement.restarts == 0


def test_a_replacement_waits_for_its_predecessor_process_to_be_gone() -> None:
    rs = running(replicaset(1))
    old = rs.pods[0]
    rs.delete_pod(old.name, now=10.0, grace=30.0)
    assert rs.reconcile(12.0) == []
    rs.process_gone(0)
    assert rs.reconcile(12.1) == [Start(rs.pods[0].name, 0, old.port)]


def test_crash_loop_back_off_restarts_at_once_then_doubles_up_to_the_maximum() -> None:
    rs = running(replicaset(1))
    name = rs.pods[0].name
    delays = []
    now = 5.0
    for _ in range(5):
        rs.container_exited(name, now)
        pod = rs.pod(name)
        assert pod.start_at is not None
        delays.append(pod.start_at - now)
        now = pod.start_at
        assert rs.reconcile(now) == [Start(name, 0, pod.port)]
        now += 1.0
    assert delays == [0.0, 10.0, 20.0, 40.0, 40.0]
    assert rs.pod(name).restarts == 5
    assert rs.pod(name).reason == ""


def test_back_off_is_forgotten_after_a_long_healthy_run() -> None:
    rs = running(replicaset(1))
    name = rs.pods[0].name
    rs.container_exited(name, 2.0)
    rs.reconcile(2.0)
    rs.container_exited(name, 3.0)
    assert rs.pod(name).reason == "CrashLoopBackOff"
    rs.reconcile(13.0)
    rs.container_exited(name, 13.0 + 2 * LIFE.restart_backoff_max)
    assert rs.pod(name).start_at == 13.0 + 2 * LIFE.restart_backoff_max


def test_liveness_failures_kill_the_container() -> None:
    rs = running(replicaset(1))
    pod = rs.pods[0]
    assert rs.probe_result(pod.name, LIVENESS, False, 11.0) == []
    assert rs.probe_result(pod.name, LIVENESS, False, 21.0) == []
    assert rs.probe_result(pod.name, LIVENESS, False, 31.0) == [Kill(pod.name, 0)]


def test_pod_failure_keeps_the_pod_and_restarts_its_container_at_injection_and_recovery() -> None:
    rs = running(replicaset(2))
    pod = rs.pods[0]
    assert rs.inject_failure(pod.name, 5.0) == [Kill(pod.name, 0)]
    rs.container_exited(pod.name, 5.01)
    assert rs.pod(pod.name) is pod
    assert pod.restarts == 1 and not pod.ready and pod.reason == "PodFailureChaos"
    assert rs.reconcile(100.0) == []
    assert all(c.pod != pod.name for c in rs.probes_due(100.0))
    assert rs.recover_failure(pod.name, 100.0) == [Start(pod.name, 0, pod.port)]
    assert pod.restarts == 2 and pod.process_running
    assert rs.recover_failure(pod.name, 101.0) == []


def test_container_kill_is_a_crash_restarted_by_the_kubelet() -> None:
    rs = running(replicaset(1))
    pod = rs.pods[0]
    assert rs.kill_container(pod.name) == [Kill(pod.name, 0)]
    rs.container_exited(pod.name, 4.0)
    assert rs.reconcile(4.0) == [Start(pod.name, 0, pod.port)]
    assert pod.restarts == 1 and rs.pod(pod.name) is pod


def test_unknown_pods_are_named_in_the_error() -> None:
    rs = running(replicaset(1))
    with pytest.raises(PodNotFoundError, match="no-such-pod"):
        rs.delete_pod("no-such-pod", 1.0)


def test_every_container_start_is_launched_at_once_and_told_its_start_up_time() -> None:
    life = Lifecycle(schedule_delay=1.0, startup_time=4.0, restart_backoff=10.0)
    rs = replicaset(2, life)
    rs.reconcile(0.0)
    first_starts = rs.reconcile(1.0)
    assert [(a.slot, a.startup) for a in first_starts if isinstance(a, Start)] == [(0, 4.0), (1, 4.0)]
    first, second = rs.pods
    rs.delete_pod(first.name, now=10.0)
    rs.process_gone(0)
    assert rs.reconcile(10.99) == [], "Pending for scheduleDelay"
    replacement = rs.pods[0]
    assert rs.reconcile(11.0) == [Start(replacement.name, 0, replacement.port, 4.0)]
    rs.inject_failure(second.name, 20.0)
    assert rs.recover_failure(second.name, 30.0) == [Start(second.name, 1, second.port, 4.0)]
    rs.container_exited(second.name, 31.0)  # a crash: first restart without back-off
    assert rs.reconcile(31.0) == [Start(second.name, 1, second.port, 4.0)]


def test_a_pod_records_when_it_became_ready_until_it_is_not_ready_any_more() -> None:
    rs = replicaset(1, Lifecycle(schedule_delay=1.0, startup_time=4.0, restart_backoff=10.0))
    rs.reconcile(0.0)
    rs.reconcile(1.0)
    pod = rs.pods[0]
    assert (pod.created_at, pod.started_at, pod.ready_since) == (0.0, 1.0, None)
    rs.probe_result(pod.name, READINESS, False, 3.0)  # still starting up
    assert pod.ready_since is None
    rs.probe_result(pod.name, READINESS, True, 5.0)
    rs.probe_result(pod.name, READINESS, True, 7.0)  # staying ready keeps the time it became ready
    assert (pod.ready, pod.ready_since) == (True, 5.0)
    for now in (9.0, 11.0, 13.0):
        rs.probe_result(pod.name, READINESS, False, now)
    assert (pod.ready, pod.ready_since) == (False, None)
    rs.probe_result(pod.name, READINESS, True, 15.0)
    assert pod.ready_since == 15.0
    rs.container_exited(pod.name, 16.0)
    assert (pod.ready, pod.ready_since) == (False, None)
    rs.reconcile(16.0)
    assert pod.started_at == 16.0
    rs.inject_failure(pod.name, 20.0)  # the pause container starts
    assert (pod.started_at, pod.ready_since) == (20.0, None)


# -- rolling updates ---------------------------------------------------------------------------------
def rolling(replicas: int = 3, surge: int = 1, unavailable: int = 0) -> ReplicaSet:
    return running(replicaset(replicas, surge=surge, unavailable=unavailable))


def drive(rs: ReplicaSet, until: float, step: float = 0.5) -> tuple[list[Action], list[int], list[int]]:
    """Reconcile and pass every probe every `step` seconds; the actions, pods and ready pods seen."""
    actions: list[Action] = []
    pods, ready = [], []
    now = 1.0
    while now < until:
        now += step
        actions += rs.reconcile(now)
        for check in rs.probes_due(now):
            actions += rs.probe_result(check.pod, check.kind, True, now)
        for action in actions:
            if isinstance(action, Kill):
                rs.process_gone(action.slot)
        pods.append(len(rs.pods))
        ready.append(rs.available)
    return actions, pods, ready


def test_a_rollout_replaces_every_pod_within_surge_and_never_below_the_replicas() -> None:
    rs = rolling()
    original = {p.name.rsplit("-", 2)[1] for p in rs.pods}
    revision = rs.roll((("CHAOS_ENABLED", "true"),))
    assert revision.number == 2 and not rs.rolled_out
    actions, pods, ready = drive(rs, 30.0)
    assert rs.rolled_out and rs.updated == 3
    assert max(pods) == 4 and min(ready) >= 3  # maxSurge 1, maxUnavailable 0
    starts = [a for a in actions if isinstance(a, Start)]
    assert len(starts) == 3 and all(a.env == (("CHAOS_ENABLED", "true"),) for a in starts)
    kills = [a for a in actions if isinstance(a, Kill)]
    assert len(kills) == 3 and all(k.grace == 10.0 for k in kills)  # terminationGracePeriod, not SIGKILL
    endpoints = [a for a in actions if isinstance(a, Endpoint)]
    assert Endpoint(3, True) in endpoints  # the surge slot joins once its pod is ready
    for kill in kills:  # every deleted pod leaves the Service before it is stopped
        assert actions.index(Endpoint(kill.slot, False)) < actions.index(kill)
    assert {p.name.rsplit("-", 2)[1] for p in rs.pods} != original


def test_rolling_back_returns_to_the_original_template_and_its_pod_name_hash() -> None:
    rs = rolling()
    original = {p.name.rsplit("-", 2)[1] for p in rs.pods}
    rs.roll((("CHAOSLAB_MODEL_VERSION", "v3-bad"),))
    drive(rs, 30.0)
    back = rs.roll(())
    assert back.number == 3 and back.env == ()
    actions, _, ready = drive(rs, 60.0)
    assert rs.rolled_out and min(ready) >= 3
    assert {p.name.rsplit("-", 2)[1] for p in rs.pods} == original
    assert all(a.env == () for a in actions if isinstance(a, Start))


def test_max_unavailable_lets_a_rollout_take_pods_away_first() -> None:
    rs = rolling(replicas=4, surge=0, unavailable=1)
    rs.roll((("CHAOS_ENABLED", "true"),))
    _, pods, ready = drive(rs, 40.0)
    assert rs.rolled_out and max(pods) == 4 and min(ready) == 3


def test_probes_due_within_a_window_carry_their_own_tick() -> None:
    rs = running(replicaset(1))
    first = rs.pods[0].readiness.next_at
    assert rs.probes_due(first - 0.06, within=0.05) == []
    (check,) = rs.probes_due(first - 0.04, within=0.05)
    assert check.kind == READINESS and check.at == first
    assert rs.pods[0].readiness.next_at == pytest.approx(first + READY.period)
