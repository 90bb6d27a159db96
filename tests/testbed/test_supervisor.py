"""The supervisor's view of the pods, on a made-up clock (no process is started)."""

from __future__ import annotations

import random
import subprocess

from chaos.system import Lifecycle, Probe
from testbed.replicaset import LIVENESS, READINESS, PodTemplate, ProbeCheck, ReplicaSet, Start
from testbed.supervisor import Supervisor, readiness_note


def no_launch(start: Start) -> subprocess.Popen[bytes]:
    raise AssertionError(f"nothing is launched here: {start}")


def test_pod_views_tell_when_each_pod_was_created_started_and_became_ready() -> None:
    template = PodTemplate(
        name="ml-prediction-service",
        namespace="ml-services",
        labels={"app": "ml-prediction-service"},
        container="ml-prediction-service",
        ports=(9000, 9001),
        lifecycle=Lifecycle(schedule_delay=1.0, startup_time=2.0),
        readiness=Probe(period=0.5, failure_threshold=3, success_threshold=1),
        liveness=Probe(period=10.0, failure_threshold=3),
    )
    rs = ReplicaSet(template, random.Random(3))
    rs.reconcile(10.0)
    rs.reconcile(11.0)
    first, second = rs.pods
    rs.probe_result(first.name, READINESS, True, 13.5)
    now = [20.0]
    views = Supervisor(rs, no_launch, "127.0.0.1", clock=lambda: now[0]).pod_views()
    times = [(v["name"], v["created_at"], v["started_at"], v["ready_since"], v["age"]) for v in views]
    assert times == [
        (first.name, 10.0, 11.0, 13.5, 10.0),
        (second.name, 10.0, 11.0, None, 10.0),
    ]
    assert [(v["ready"], v["phase"]) for v in views] == [(True, "Running"), (False, "Running")]


def _template() -> PodTemplate:
    return PodTemplate(
        name="ml-prediction-service",
        namespace="ml-services",
        labels={"app": "ml-prediction-service"},
        container="ml-prediction-service",
        ports=(9000,),
        lifecycle=Lifecycle(schedule_delay=0.0, startup_time=4.0),
        readiness=Probe(period=2.0, failure_threshold=3, success_threshold=1),
        liveness=Probe(period=10.0, failure_threshold=3),
    )


def test_the_log_times_readiness_from_the_container_start() -> None:
    template = _template()
    rs = ReplicaSet(template, random.Random(3))
    rs.reconcile(10.0)
    (pod,) = rs.pods
    started = pod.started_at
    assert started is not None

    def note(at: float, ok: bool, was_ready: bool = False) -> str | None:
        check = ProbeCheck(pod.name, READINESS, pod.port, started + at)
        if ok:
            rs.probe_result(pod.name, READINESS, True, started + at)
        return readiness_note(pod, check, ok, was_ready, template)

    assert note(1.2, ok=False) is None  # still starting: nothing to say
    late = note(5.2, ok=False)
    assert late == (
        f"pod {pod.name}: readiness probe failed 5.200 s after its container started "
        "(the first since its 4 s start-up)"
    )
    assert note(7.2, ok=False) is None  # only the first probe after the start-up
    ready = note(7.25, ok=True)
    assert ready == f"pod {pod.name}: ready on the readiness probe sent 7.250 s after its container started"
    assert note(9.2, ok=True, was_ready=True) is None  # already ready
    liveness = ProbeCheck(pod.name, LIVENESS, pod.port, started + 5.2)
    assert readiness_note(pod, liveness, False, False, template) is None
    assert readiness_note(None, liveness, False, False, template) is None
