"""The local executor: Chaos Mesh manifests applied to the embedded testbed, with the controller's semantics.

The same files `kubectl apply` sends to a cluster (experiments/*.yaml) are applied here:

- PodChaos `pod-kill`: the selected pods are deleted (SIGKILL, or SIGTERM then SIGKILL after
  `gracePeriod`); the ReplicaSet recreates them. One-shot: nothing to undo at recovery.
- PodChaos `pod-failure`: the selected pods stay but serve nothing (their container is swapped for a
  pause container: restart count + 1) and are not recreated; recovery brings the service back
  (restart count + 1). Ends after `duration` or when recovered.
- PodChaos `container-kill`: the named container's process is killed; the kubelet restarts it with
  back-off. One-shot.
- NetworkChaos `delay` (latency, jitter, correlation), `loss` and `partition` on the feature store:
  a named fault on the fault proxy, cleared at recovery.
- Selection: `selector` (namespaces, labelSelectors) then `mode`/`value` as the controller does
  (chaos.selection). A manifest selecting something the testbed does not have is refused before
  anything is touched.
- Rollouts (chaos.rollout: the chaotic deployment, a model rollout): a rolling update of the pods
  to the template's container environment, with the Deployment's strategy (testbed.replicaset);
  recovery rolls back to the environment the pods had before. One record, the Deployment.
- `duration` ends the fault by itself (a timer on the injected clock); `recover()` ends it at any
  time, like deleting the object. Status follows Chaos Mesh: records per target with phase
  Injected / Not Injected and the conditions Selected, AllInjected, AllRecovered, Paused.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from chaos.errors import ChaosLabError
from chaos.manifest import ChaosManifest
from chaos.rollout import Rollout
from chaos.selection import max_count, pick
from chaos.spec import Fault
from runner.executors.base import (
    ChaosExistsError,
    ChaosNotFoundError,
    ChaosStatus,
    Clock,
    DesiredPhase,
    Record,
    RecordPhase,
    SystemClock,
    Timer,
)

log = logging.getLogger(__name__)


class UnsupportedChaosError(ChaosLabError):
    """The manifest asks for something the testbed does not have or cannot do."""

    hint = "the testbed has the prediction pods and the feature store; see `chaoslab testbed status`"


# -- the seams --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PodRef:
    name: str
    namespace: str
    labels: dict[str, str]


@dataclass(frozen=True)
class NetworkFaultSpec:
    """A fault for the feature store's network, in seconds and fractions (as the fault proxy takes it)."""

    name: str
    direction: str
    latency: float | None = None
    jitter: float = 0.0
    delay_correlation: float = 0.0
    loss: float | None = None
    loss_correlation: float = 0.0
    partition: str | None = None


class Cluster(Protocol):
    """What the executor needs from a testbed (runner.executors.testbed.TestbedCluster in production)."""

    container: str
    feature_store: PodRef

    def pods(self) -> list[PodRef]: ...

    def delete_pod(self, name: str, grace: float) -> None: ...

    def inject_pod_failure(self, name: str) -> None: ...

    def recover_pod_failure(self, name: str) -> None: ...

    def kill_container(self, name: str, container: str) -> None: ...

    def set_network_fault(self, fault: NetworkFaultSpec) -> None: ...

    def clear_network_fault(self, name: str) -> None: ...

    def template_env(self) -> dict[str, str]: ...

    def roll(self, env: dict[str, str]) -> None: ...


@dataclass
class _Active:
    manifest: Fault
    status: ChaosStatus
    timer: Timer | None = None
    before: dict[str, str] | None = None
    """A rollout's: the container environment the pods had before it (what recovery rolls back to)."""


# -- the executor -----------------------------------------------------------------------------
class LocalExecutor:
    def __init__(
        self, cluster: Cluster, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        self.cluster = cluster
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self._objects: dict[str, _Active] = {}
        self._lock = threading.RLock()

    def plan(self, manifest: Fault) -> list[str]:
        """What `apply` would touch (pod names, the feature store, the Deployment), without touching it."""
        if isinstance(manifest, Rollout):
            return [_deployment(manifest)]
        if manifest.is_network_chaos:
            return [self._network_target(manifest).name]
        return [p.name for p in self._pick_pods(manifest)]

    def apply(self, manifest: Fault) -> ChaosStatus:
        """Inject the manifest's chaos now; `duration` (if any) recovers it by itself."""
        with self._lock:
            key = f"{manifest.namespace}/{manifest.name}"
            current = self._objects.get(key)
            if current is not None and current.status.active:
                raise ChaosExistsError(f"{manifest.kind} {key} is already applied ({manifest.source})")
            targets = self.plan(manifest)
            now = self.clock.now()
            status = ChaosStatus(
                manifest.namespace,
                manifest.name,
                manifest.kind,
                manifest.action,
                records=[Record(t) for t in targets],
                created_at=now,
                duration=manifest.duration,
            )
            active = _Active(manifest, status)
            if isinstance(manifest, Rollout):
                active.before = self.cluster.template_env()
            self._objects[key] = active
            for record in status.records:
                self._inject(manifest, record)
                record.phase, record.injected_count = RecordPhase.INJECTED, record.injected_count + 1
            status.events.append((now, f"injected {manifest.action} into {len(targets)} target(s)"))
            log.info("%s: %s on %s", key, manifest.action, ", ".join(targets) or "nothing")
            if manifest.duration is not None:
                active.timer = self.clock.call_later(manifest.duration, lambda: self._expire(key))
            return status

    def recover(self, namespace: str, name: str) -> ChaosStatus:
        """End the chaos now (as deleting the Chaos Mesh object does)."""
        with self._lock:
            active = self._get(namespace, name)
            if active.timer is not None:
                active.timer.cancel()
                active.timer = None
            self._recover(active, "recovered on request")
            return active.status

    def recover_all(self) -> list[ChaosStatus]:
        with self._lock:
            return [self.recover(a.status.namespace, a.status.name) for a in list(self._objects.values())]

    def status(self, namespace: str, name: str) -> ChaosStatus:
        with self._lock:
            return self._get(namespace, name).status

    def statuses(self) -> list[ChaosStatus]:
        with self._lock:
            return [a.status for a in self._objects.values()]

    # -- internals ---------------------------------------------------------------------------
    def _get(self, namespace: str, name: str) -> _Active:
        active = self._objects.get(f"{namespace}/{name}")
        if active is None:
            raise ChaosNotFoundError(f"no chaos {namespace}/{name} was applied by this executor")
        return active

    def _expire(self, key: str) -> None:
        with self._lock:
            active = self._objects.get(key)
            if active is not None and active.status.active:
                active.timer = None
                self._recover(active, "duration elapsed")

    def _recover(self, active: _Active, why: str) -> None:
        status = active.status
        if not status.active:
            return
        status.desired_phase = DesiredPhase.STOP
        for record in status.records:
            if record.phase != RecordPhase.INJECTED:
                continue
            try:
                self._undo(active, record)
            except ChaosLabError as exc:
                log.warning("%s: recovering %s: %s", status.key, record.id, exc)
            record.phase, record.recovered_count = RecordPhase.NOT_INJECTED, record.recovered_count + 1
        status.events.append((self.clock.now(), why))
        log.info("%s: %s", status.key, why)

    def _inject(self, manifest: Fault, record: Record) -> None:
        c = self.cluster
        if isinstance(manifest, Rollout):
            c.roll(manifest.env_map)
        elif manifest.is_network_chaos:
            c.set_network_fault(_network_fault(manifest))
        elif manifest.action == "pod-kill":
            c.delete_pod(record.id, float(manifest.grace_period))
        elif manifest.action == "pod-failure":
            c.inject_pod_failure(record.id)
        else:
            c.kill_container(record.id, c.container)

    def _undo(self, active: _Active, record: Record) -> None:
        manifest = active.manifest
        if isinstance(manifest, Rollout):
            self.cluster.roll(active.before or {})
        elif manifest.is_network_chaos:
            self.cluster.clear_network_fault(_fault_name(manifest))
        elif manifest.action == "pod-failure":
            self.cluster.recover_pod_failure(record.id)

    def _pick_pods(self, manifest: ChaosManifest) -> list[PodRef]:
        c = self.cluster
        store = c.feature_store
        if manifest.selector.matches(store.namespace, store.labels):
            raise UnsupportedChaosError(
                f"{manifest.source}: PodChaos on the feature store ({_describe(store)}) is not available "
                "on the testbed; it can only act on the prediction pods"
            )
        candidates = sorted(
            (p for p in c.pods() if manifest.selector.matches(p.namespace, p.labels)), key=lambda p: p.name
        )
        if not candidates:
            raise UnsupportedChaosError(
                f"{manifest.source}: spec.selector {manifest.selector.describe()} selects no pod of the "
                f"testbed (it has {_describe_pods(c.pods())})"
            )
        if manifest.action == "container-kill" and c.container not in manifest.container_names:
            raise UnsupportedChaosError(
                f"{manifest.source}: spec.containerNames {list(manifest.container_names)} names no container "
                f"of the testbed's pods (they run {c.container!r})"
            )
        return pick(manifest.mode, manifest.value, candidates, self.rng)

    def _network_target(self, manifest: ChaosManifest) -> PodRef:
        store = self.cluster.feature_store
        if not manifest.selector.matches(store.namespace, store.labels):
            raise UnsupportedChaosError(
                f"{manifest.source}: spec.selector {manifest.selector.describe()}: the testbed injects "
                f"network faults only on the feature store ({_describe(store)}), through its fault proxy"
            )
        target = manifest.target
        if target is not None:
            pods = self.cluster.pods()
            chosen = [p for p in pods if target.selector.matches(p.namespace, p.labels)]
            if len(chosen) != len(pods) or max_count(target.mode, target.value, len(chosen)) != len(pods):
                raise UnsupportedChaosError(
                    f"{manifest.source}: spec.target must cover every prediction pod on the testbed "
                    f"(the fault proxy sits in front of the store, not of single pods); got mode "
                    f"{target.mode} {target.value or ''} of {target.selector.describe()}"
                )
        return store


def _deployment(rollout: Rollout) -> str:
    return f"deployment/{rollout.name}"


def _fault_name(manifest: ChaosManifest) -> str:
    return f"{manifest.namespace}.{manifest.name}"


def _network_fault(manifest: ChaosManifest) -> NetworkFaultSpec:
    delay, loss = manifest.delay, manifest.loss
    return NetworkFaultSpec(
        name=_fault_name(manifest),
        direction=manifest.direction,
        latency=delay.latency if delay else None,
        jitter=delay.jitter if delay else 0.0,
        delay_correlation=delay.correlation if delay else 0.0,
        loss=loss.loss if loss else None,
        loss_correlation=loss.correlation if loss else 0.0,
        partition="blackhole" if manifest.action == "partition" else None,
    )


def _describe(pod: PodRef) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(pod.labels.items()))
    return f"namespace {pod.namespace}, labels {labels}"


def _describe_pods(pods: Sequence[PodRef]) -> str:
    kinds = sorted({_describe(p) for p in pods})
    return "; ".join(kinds) if kinds else "no pods"


__all__ = ["Cluster", "LocalExecutor", "NetworkFaultSpec", "PodRef", "UnsupportedChaosError"]
