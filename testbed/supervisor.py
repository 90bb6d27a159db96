"""The supervisor: runs the ReplicaSet's decisions as real processes and probes them over HTTP.

It ticks every TICK seconds in the daemon's event loop: reaps exited pod processes, lets the
ReplicaSet reconcile, starts and kills processes, sends the probes that are due, and keeps the
Prometheus targets file and the pod metrics (kube-state-metrics names) in step with the pods. A
probe is sent at its own tick (the pod's probe grid), not at the step that found it due: a step can
be up to TICK late, and a pod whose start-up ends on a tick begins to listen only about 25 ms after.

The daemon's log says, for each container start, on which readiness probe the pod became ready and
whether the first probe after its emulated start-up failed, in seconds from the container's start:
a run's one-second samples of the Ready count cannot tell a late probe phase from a late start-up.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chaos import processes
from testbed.replicaset import (
    LIVENESS,
    READINESS,
    Action,
    Endpoint,
    Env,
    Kill,
    Pod,
    PodNotFoundError,
    PodTemplate,
    ProbeCheck,
    ReplicaSet,
    Revision,
    Start,
)

log = logging.getLogger(__name__)

TICK = 0.05
PROBE_PATHS = {READINESS: "/ready", LIVENESS: "/healthz"}

Launcher = Callable[[Start], subprocess.Popen[bytes]]
"""Starts a pod's container process (the service) for a Start action."""


@dataclass
class _Process:
    pod: str
    slot: int
    popen: subprocess.Popen[bytes]
    record: processes.ProcessRecord | None
    kill_at: float | None = None


class Supervisor:
    def __init__(
        self,
        replicaset: ReplicaSet,
        launch: Launcher,
        host: str,
        on_record: Callable[[processes.ProcessRecord], None] = lambda r: None,
        on_forget: Callable[[str], None] = lambda name: None,
        on_pods_changed: Callable[[list[Pod]], None] = lambda pods: None,
        clock: Callable[[], float] = time.monotonic,
        on_endpoint: Callable[[Endpoint], None] = lambda endpoint: None,
    ) -> None:
        self.replicaset = replicaset
        self._launch = launch
        self._host = host
        self._on_record, self._on_forget, self._on_pods_changed = on_record, on_forget, on_pods_changed
        self._on_endpoint = on_endpoint
        self._clock = clock
        self._procs: dict[str, _Process] = {}
        self._probe_results: list[tuple[ProbeCheck, bool]] = []
        self._probe_tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._pods_seen: tuple[tuple[str, int], ...] = ()

    def now(self) -> float:
        return self._clock()

    # -- the loop ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        timeout = self.replicaset.template.readiness.timeout
        async with httpx.AsyncClient(timeout=timeout) as client:
            self._client = client
            try:
                while not stop.is_set():
                    self.step()
                    await asyncio.sleep(TICK)
            finally:
                self._client = None
                for task in list(self._probe_tasks):
                    task.cancel()
                await self.stop_all()

    def step(self) -> None:
        now = self.now()
        self._reap(now)
        results, self._probe_results = self._probe_results, []
        for check, ok in results:
            pod = self._find(check.pod) if check.kind == READINESS else None
            was_ready = pod is not None and pod.ready
            self.execute(self.replicaset.probe_result(check.pod, check.kind, ok, now))
            note = readiness_note(pod, check, ok, was_ready, self.replicaset.template)
            if note:
                log.info("%s", note)
        self.execute(self.replicaset.reconcile(now))
        for check in self.replicaset.probes_due(now, within=TICK):  # sent on their tick, not the step's
            task = asyncio.create_task(self._probe(check, max(0.0, check.at - now)))
            self._probe_tasks.add(task)
            task.add_done_callback(self._probe_tasks.discard)
        seen = tuple((pod.name, pod.port) for pod in self.replicaset.pods)
        if seen != self._pods_seen:
            self._pods_seen = seen
            self._on_pods_changed(self.replicaset.pods)

    def _find(self, name: str) -> Pod | None:
        try:
            return self.replicaset.pod(name)
        except PodNotFoundError:
            return None

    def _reap(self, now: float) -> None:
        for name, proc in list(self._procs.items()):
            if proc.popen.poll() is None:
                if proc.kill_at is not None and now >= proc.kill_at:
                    self._signal(proc, signal.SIGKILL)
                    proc.kill_at = None
                continue
            del self._procs[name]
            self._on_forget(_record_name(name))
            log.info("pod %s: process %d exited with %s", name, proc.popen.pid, proc.popen.returncode)
            if any(p.name == name for p in self.replicaset.pods):
                self.replicaset.container_exited(name, now)
            else:
                self.replicaset.process_gone(proc.slot)

    async def _probe(self, check: ProbeCheck, delay: float = 0.0) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        ok = False
        if self._client is not None:
            url = f"http://{self._host}:{check.port}{PROBE_PATHS[check.kind]}"
            try:
                response = await self._client.get(url)
                ok = 200 <= response.status_code < 400
            except httpx.HTTPError:
                ok = False
        self._probe_results.append((check, ok))

    # -- actions -----------------------------------------------------------------------------
    def execute(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Start):
                self._start(action)
            elif isinstance(action, Endpoint):
                self._on_endpoint(action)
            else:
                self._kill(action)

    def _start(self, action: Start) -> None:
        popen = self._launch(action)
        try:
            record: processes.ProcessRecord | None = processes.record_of(
                _record_name(action.pod), popen.pid, popen.args if isinstance(popen.args, list) else ()
            )
        except ProcessLookupError:
            record = None
        self._procs[action.pod] = _Process(action.pod, action.slot, popen, record)
        if record is not None:
            self._on_record(record)
        log.info("pod %s: started process %d on port %d", action.pod, popen.pid, action.port)

    def _kill(self, action: Kill) -> None:
        proc = self._procs.get(action.pod)
        if proc is None:
            return
        if action.grace > 0:
            self._signal(proc, signal.SIGTERM)
            proc.kill_at = self.now() + action.grace
        else:
            self._signal(proc, signal.SIGKILL)

    def _signal(self, proc: _Process, sig: signal.Signals) -> None:
        if proc.record is not None:
            processes.signal_group(proc.record, sig)
        elif proc.popen.poll() is None:
            proc.popen.send_signal(sig)

    async def stop_all(self, grace: float = processes.STOP_GRACE) -> None:
        """Stop every pod process: SIGTERM, then SIGKILL after `grace` seconds."""
        for proc in self._procs.values():
            self._signal(proc, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while any(p.popen.poll() is None for p in self._procs.values()) and loop.time() < deadline:
            await asyncio.sleep(TICK)
        for proc in self._procs.values():
            if proc.popen.poll() is None:
                self._signal(proc, signal.SIGKILL)
                proc.popen.wait()
            self._on_forget(_record_name(proc.pod))
        self._procs.clear()

    # -- chaos commands (Chaos Mesh PodChaos on the testbed) ---------------------------------
    def delete_pod(self, name: str, grace: float = 0.0) -> None:
        self.execute(self.replicaset.delete_pod(name, self.now(), grace))

    def kill_container(self, name: str) -> None:
        self.execute(self.replicaset.kill_container(name))

    def inject_failure(self, name: str) -> None:
        self.execute(self.replicaset.inject_failure(name, self.now()))

    def recover_failure(self, name: str) -> None:
        self.execute(self.replicaset.recover_failure(name, self.now()))

    # -- rollouts (a Deployment's pod template change) ---------------------------------------
    def roll(self, env: Env) -> Revision:
        """Start a rolling update to a template with container environment `env`."""
        revision = self.replicaset.roll(env)
        self.execute(self.replicaset.reconcile(self.now()))
        return revision

    def rollout_view(self) -> dict[str, Any]:
        """The rollout's state as `kubectl rollout status` sees it."""
        rs = self.replicaset
        revision = rs.revision
        return {
            "revision": revision.number,
            "env": dict(revision.env),
            "hash": revision.hash,
            "replicas": rs.template.replicas,
            "pods": len(rs.pods),
            "updated": rs.updated,
            "ready": rs.available,
            "complete": rs.rolled_out,
        }

    # -- views -------------------------------------------------------------------------------
    def pod_views(self) -> list[dict[str, Any]]:
        """The pods as the daemon API shows them. `created_at`, `started_at` (the container's last
        start) and `ready_since` (None while not ready) are on the supervisor's clock, the daemon's
        `time.monotonic()`: they tell when each step of a pod's life happened."""
        now = self.now()
        t = self.replicaset.template
        views = []
        for pod in self.replicaset.pods:
            proc = self._procs.get(pod.name)
            views.append(
                {
                    "name": pod.name,
                    "namespace": t.namespace,
                    "labels": t.labels,
                    "container": t.container,
                    "slot": pod.slot,
                    "port": pod.port,
                    "phase": pod.phase,
                    "ready": pod.ready,
                    "state": pod.state,
                    "reason": pod.reason,
                    "restarts": pod.restarts,
                    "failure_injected": pod.failure_injected,
                    "revision": pod.revision,
                    "pid": proc.popen.pid if proc else None,
                    "age": round(now - pod.created_at, 3),
                    "created_at": pod.created_at,
                    "started_at": pod.started_at,
                    "ready_since": pod.ready_since,
                }
            )
        return views


class PodMetrics(Collector):
    """Pod and ReplicaSet state under kube-state-metrics names, so cluster alert rules apply here."""

    def __init__(self, replicaset: ReplicaSet) -> None:
        self._rs = replicaset

    def collect(self) -> Iterator[Metric]:
        t = self._rs.template
        ready = GaugeMetricFamily(
            "kube_pod_status_ready", "Pod ready condition", labels=["namespace", "pod", "condition"]
        )
        phase = GaugeMetricFamily("kube_pod_status_phase", "Pod phase", labels=["namespace", "pod", "phase"])
        restarts = CounterMetricFamily(
            "kube_pod_container_status_restarts",
            "Container restarts",
            labels=["namespace", "pod", "container"],
        )
        for pod in self._rs.pods:
            for condition, holds in (("true", pod.ready), ("false", not pod.ready)):
                ready.add_metric([t.namespace, pod.name, condition], float(holds))
            for name in ("Pending", "Running"):
                phase.add_metric([t.namespace, pod.name, name], float(pod.phase == name))
            restarts.add_metric([t.namespace, pod.name, t.container], pod.restarts)
        yield ready
        yield phase
        yield restarts
        labels = ["namespace", "deployment"]
        for name, help_text, value in (
            ("kube_deployment_spec_replicas", "Desired pods", t.replicas),
            ("kube_deployment_status_replicas", "Pods", len(self._rs.pods)),
            ("kube_deployment_status_replicas_available", "Ready pods", self._rs.available),
            (
                "kube_deployment_status_replicas_unavailable",
                "Pods not ready",
                max(0, t.replicas - self._rs.available),
            ),
            ("kube_deployment_status_replicas_updated", "Pods of the current template", self._rs.updated),
            ("kube_deployment_status_observed_generation", "Template revision", self._rs.revision.number),
        ):
            family = GaugeMetricFamily(name, help_text, labels=labels)
            family.add_metric([t.namespace, t.name], float(value))
            yield family


class ProcessMetrics(Collector):
    """Whether each process the testbed started runs: Redis has no exporter, so it is seen here."""

    def __init__(self, records: Callable[[], list[processes.ProcessRecord]]) -> None:
        self._records = records

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("testbed_process_up", "1 while a testbed process runs", labels=["component"])
        for record in self._records():
            component = "pod" if record.name.startswith("pod-") else record.name
            if component != "pod":
                up.add_metric([component], float(processes.is_alive(record)))
        yield up


def _record_name(pod: str) -> str:
    return f"pod-{pod}"


def readiness_note(
    pod: Pod | None, check: ProbeCheck, ok: bool, was_ready: bool, template: PodTemplate
) -> str | None:
    """The log line a readiness probe's outcome earns, if any: the probe that made the pod ready, and
    the first probe at or after the end of the pod's emulated start-up when it failed (on the tick the
    start-up ends it always does: the pod listens some 25 ms later; later than that, the pod listened
    late), each timed from the container's start. Other outcomes say nothing new and are not logged."""
    if check.kind != READINESS or pod is None or pod.started_at is None or was_ready:
        return None
    since = check.at - pod.started_at
    if ok and pod.ready:
        return f"pod {pod.name}: ready on the readiness probe sent {since:.3f} s after its container started"
    startup, period = template.lifecycle.startup_time, template.readiness.period
    if not ok and startup <= since < startup + period:
        return (
            f"pod {pod.name}: readiness probe failed {since:.3f} s after its container started "
            f"(the first since its {startup:g} s start-up)"
        )
    return None
