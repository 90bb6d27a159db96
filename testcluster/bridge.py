"""The testbed as a node of the test cluster: its service processes are the pods of the cluster's
Deployment (a virtual kubelet in spirit, for tests and benchmarks).

The test cluster schedules the Deployment's pods on a kwok node; their `kwok.x-k8s.io/status:
custom` annotation tells kwok to leave their status alone, and the bridge writes it instead, from
the testbed pod each cluster pod is paired with. Every `interval` it:

1. pairs each cluster pod with a testbed pod (oldest unpaired first): the testbed's own ReplicaSet
   keeps the same number of pods as the Deployment, so a new cluster pod finds the testbed pod that
   replaced the one its predecessor had;
2. carries what Chaos Mesh's controller does to a cluster pod over to its testbed pod: a pod being
   deleted (pod-kill) has its testbed pod deleted (the testbed recreates it) and is then removed
   from the API (kwok would; here nobody else does); a pod whose containers run the pause image
   (pod-failure) has the failure injected on its testbed pod, and recovered once the image is back;
3. writes each cluster pod's status: Running with the testbed pod's readiness and restart count
   once paired, Pending before.

So readiness flows from the testbed's real processes (through their real readiness checks) back to
the API, where the Kubernetes backend's runner watches it.
"""

from __future__ import annotations

import datetime
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client import ApiClient, ApiException

from testbed.client import TestbedClient

log = logging.getLogger(__name__)

PAUSE_PREFIXES = ("gcr.io/google-containers/pause", "registry.k8s.io/pause")


def _paused(pod: Any) -> bool:
    return all(str(c.image).split(":")[0] in PAUSE_PREFIXES for c in pod.spec.containers)


def _status_state(pod: Any) -> tuple[bool, bool, int]:
    """(running, ready, restart count) as the pod's status says now."""
    status = pod.status
    conditions = (status.conditions if status else None) or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    containers = (status.container_statuses if status else None) or []
    restarts = int(containers[0].restart_count or 0) if containers else 0
    return (status is not None and status.phase == "Running", ready, restarts)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Bridge:
    """Keeps the cluster's service pods and the testbed's pods in step (start / stop)."""

    api: ApiClient
    testbed: TestbedClient
    namespace: str
    selector: str
    interval: float = 0.25
    pairs: dict[str, str] = field(default_factory=dict)
    """cluster pod name -> testbed pod name."""
    errors: list[str] = field(default_factory=list)
    overwritten: int = 0
    """Times another component changed a pod status the bridge had written (0 on a sound cluster)."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _written: dict[str, tuple[bool, bool, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._core = client.CoreV1Api(self.api)

    def start(self) -> Bridge:
        self._thread = threading.Thread(target=self._loop, name="testbed-bridge", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # the bridge must outlive any one pass; the error is kept
                message = f"{type(exc).__name__}: {exc}"
                if not self.errors or self.errors[-1] != message:
                    log.warning("bridge: %s", message)
                    self.errors.append(message)
            self._stop.wait(self.interval)

    def step(self) -> None:
        """One pass: pair, carry chaos over, write statuses."""
        pods: list[Any] = list(
            self._core.list_namespaced_pod(self.namespace, label_selector=self.selector).items
        )
        testbed = {p["name"]: p for p in self.testbed.pods()}
        live = {p.metadata.name: p for p in pods}
        # pods gone from the API or being deleted: their testbed pods go too
        for name in list(self.pairs):
            pod = live.get(name)
            if pod is None or pod.metadata.deletion_timestamp is not None:
                paired = self.pairs.pop(name)
                if paired in testbed:
                    log.info("bridge: %s deleted: deleting testbed pod %s", name, paired)
                    self.testbed.delete_pod(paired, 0.0)
                    testbed.pop(paired)
        for pod in pods:
            if pod.metadata.deletion_timestamp is not None:
                self._finish_deletion(pod)
        # pair new cluster pods with unpaired testbed pods, oldest first
        taken = set(self.pairs.values())
        free = sorted((p for n, p in testbed.items() if n not in taken), key=lambda p: p["created_at"])
        waiting = sorted(
            (p for p in pods if p.metadata.deletion_timestamp is None and p.metadata.name not in self.pairs),
            key=lambda p: p.metadata.creation_timestamp,
        )
        for pod, target in zip(waiting, free, strict=False):
            self.pairs[pod.metadata.name] = target["name"]
            log.info("bridge: cluster pod %s is testbed pod %s", pod.metadata.name, target["name"])
        for pod in pods:
            if pod.metadata.deletion_timestamp is not None:
                continue
            target_name = self.pairs.get(pod.metadata.name)
            view = testbed.get(target_name) if target_name else None
            if view is not None:
                self._carry_failure(pod, view)
            self._write_status(pod, view)

    def _finish_deletion(self, pod: Any) -> None:
        """Remove a pod being deleted from the API, as a kubelet does once its containers stopped."""
        try:
            self._core.delete_namespaced_pod(pod.metadata.name, self.namespace, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def _carry_failure(self, pod: Any, view: dict[str, Any]) -> None:
        paused, injected = _paused(pod), bool(view["failure_injected"])
        if paused and not injected:
            log.info(
                "bridge: %s runs the pause image: failing testbed pod %s", pod.metadata.name, view["name"]
            )
            self.testbed.inject_pod_failure(view["name"])
        elif injected and not paused:
            log.info(
                "bridge: %s has its image back: recovering testbed pod %s", pod.metadata.name, view["name"]
            )
            self.testbed.recover_pod_failure(view["name"])

    def _write_status(self, pod: Any, view: dict[str, Any] | None) -> None:
        """Level-triggered: write the status when the pod's differs from the testbed pod's."""
        ready = bool(view and view["ready"] and not view["failure_injected"])
        key = pod.metadata.name
        state = (view is not None, ready, int(view["restarts"]) if view else 0)
        if _status_state(pod) == state:
            return
        if self._written.get(key) == state:
            conditions = (pod.status.conditions if pod.status else None) or []
            said = [(c.type, c.status, c.reason, c.message) for c in conditions if c.type == "Ready"]
            log.warning("bridge: %s's status was changed by someone else (%s); writing it again", key, said)
            self.overwritten += 1
        status = "True" if ready else "False"
        now = _now()
        containers = [
            {
                "name": c.name,
                "image": c.image,
                "imageID": "",
                "ready": ready,
                "restartCount": int(view["restarts"]) if view else 0,
                "started": view is not None,
                "state": {"running": {"startedAt": now}}
                if view
                else {"waiting": {"reason": "ContainerCreating"}},
            }
            for c in pod.spec.containers
        ]
        body = {
            "status": {
                "phase": "Running" if view else "Pending",
                "podIP": "127.0.0.1",
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                    {"type": "ContainersReady", "status": status, "lastTransitionTime": now},
                    {"type": "Ready", "status": status, "lastTransitionTime": now},
                ],
                "containerStatuses": containers,
            }
        }
        self._core.patch_namespaced_pod_status(key, self.namespace, body)
        self._written[key] = state
