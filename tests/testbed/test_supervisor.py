"""The supervisor's view of the pods, on a made-up clock (no process is started)."""

from __future__ import annotations

import random
import subprocess

from chaos.system import Lifecycle, Probe
from testbed.replicaset import READINESS, PodTemplate, ReplicaSet, Start
from testbed.supervisor import Supervisor


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
