"""The Kubernetes executor: Chaos Mesh objects created on a cluster through its API.

The same manifests the local executor plays on the testbed are sent to the cluster, where Chaos
Mesh's controller carries them out:

- `apply`: the manifest, labelled with the run's id (`chaoslab.dev/run`) and
  `app.kubernetes.io/managed-by: chaoslab`, is first created with a server-side dry run
  (`dryRun=All`: schema, Chaos Mesh's admission webhooks, RBAC), so a manifest the cluster would
  reject fails before anything is applied; then created for real, and watched until Chaos Mesh
  reports it injected (condition AllInjected, one record per target).
- `recover`: the object is deleted, as `kubectl delete` does; Chaos Mesh recovers every target
  before it lets the object go (its `chaos-mesh/records` finalizer), so the executor waits until
  the object is gone.
- rollouts (chaos.rollout): the service's Deployment patched to the new template, and rolled back
  at recovery (runner.executors.deployment_rollout).
- `plan`: the pods the selector matches now, read-only.
- `statuses`: the objects this executor created, as the cluster reports them now.
- `leftovers` / `delete_labelled`: what `chaoslab cleanup --backend kubernetes` finds and removes
  by label, for one run or every chaoslab-labelled object.

Every API error becomes one line (runner.executors.cluster_errors), naming the request, the
manifest file and, for a 403, the rule of k8s/rbac.yaml that grants it.
"""

from __future__ import annotations

import copy
import datetime
import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client import ApiClient, ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from chaos.manifest import ChaosManifest
from chaos.rbac import Rule, load_rules
from chaos.rollout import Rollout
from chaos.selection import pick
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
)
from runner.executors.cluster_errors import (
    ClusterError,
    ClusterTimeoutError,
    ObjectConflictError,
    Request,
    explain,
    unreachable,
)
from runner.executors.deployment_rollout import DeploymentRollouts
from runner.executors.object_watch import WatchStats, wait_for

log = logging.getLogger(__name__)

GROUP, VERSION = "chaos-mesh.org", "v1alpha1"
PLURALS = {
    "PodChaos": "podchaos",
    "NetworkChaos": "networkchaos",
    "Schedule": "schedules",
    "Workflow": "workflows",
}
RUN_LABEL = "chaoslab.dev/run"
MANAGED_BY = ("app.kubernetes.io/managed-by", "chaoslab")
RBAC_FILE = Path(__file__).resolve().parents[2] / "k8s" / "rbac.yaml"
INJECT_TIMEOUT = 60.0
RECOVER_TIMEOUT = 120.0

T = TypeVar("T")


def _condition(obj: dict[str, Any] | None, name: str) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == name and c.get("status") == "True" for c in conditions)


def _failures(obj: dict[str, Any] | None) -> list[str]:
    """The controller's failure messages on the object's records (newest last)."""
    records = (((obj or {}).get("status") or {}).get("experiment") or {}).get("containerRecords") or []
    out = []
    for record in records:
        for event in record.get("events") or []:
            if event.get("type") == "Failed" and event.get("message"):
                out.append(f"{record.get('id')}: {event['message']}")
    return out


def _timestamp(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def status_of(obj: dict[str, Any], manifest: ChaosManifest | None = None) -> ChaosStatus:
    """A Chaos Mesh object's status as the runner's ChaosStatus."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    experiment = (obj.get("status") or {}).get("experiment") or {}
    records = [
        Record(
            id=str(r.get("id", "")),
            phase=RecordPhase.INJECTED if r.get("phase") == "Injected" else RecordPhase.NOT_INJECTED,
            injected_count=int(r.get("injectedCount") or 0),
            recovered_count=int(r.get("recoveredCount") or 0),
        )
        for r in experiment.get("containerRecords") or []
    ]
    desired = DesiredPhase.STOP if experiment.get("desiredPhase") == "Stop" else DesiredPhase.RUN
    return ChaosStatus(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        kind=str(obj.get("kind", manifest.kind if manifest else "")),
        action=str(spec.get("action", manifest.action if manifest else "")),
        desired_phase=desired,
        records=records,
        created_at=_timestamp(meta.get("creationTimestamp")),
        duration=manifest.duration if manifest else None,
    )


def _gone(status: ChaosStatus) -> ChaosStatus:
    """The status of an object that was deleted: stopped, every record recovered."""
    status.desired_phase = DesiredPhase.STOP
    for record in status.records:
        record.phase = RecordPhase.NOT_INJECTED
    return status


def _pod_name(record_id: str) -> str:
    """A record id is namespace/pod (PodChaos) or namespace/pod/container; the pod's name."""
    parts = record_id.split("/")
    return parts[1] if len(parts) > 1 else record_id


@dataclass
class KubernetesExecutor:
    """Creates and deletes Chaos Mesh objects on the cluster `api` talks to."""

    api: ApiClient
    run_id: str
    clock: Clock = field(default_factory=SystemClock)
    inject_timeout: float = INJECT_TIMEOUT
    recover_timeout: float = RECOVER_TIMEOUT
    rules: list[Rule] = field(default_factory=lambda: load_rules(RBAC_FILE))
    watch_seconds: int = 30
    watch_stats: WatchStats = field(default_factory=WatchStats)
    _created: dict[str, tuple[ChaosManifest, ChaosStatus]] = field(default_factory=dict)
    _rollouts: dict[str, tuple[Rollout, ChaosStatus]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._objects = client.CustomObjectsApi(self.api)
        self._core = client.CoreV1Api(self.api)
        self._deployments = DeploymentRollouts(self.api, self._call)

    # -- calling the API --------------------------------------------------------------------------
    @contextmanager
    def _asking(self, request: Request) -> Iterator[None]:
        try:
            yield
        except ApiException as exc:
            if exc.status == 0 or exc.status is None:
                raise unreachable(request, self.api.configuration.host, exc) from None
            raise explain(exc.status, exc.body, request, self.rules) from None
        except (Urllib3Error, OSError) as exc:
            raise unreachable(request, self.api.configuration.host, exc) from None

    def _call(self, request: Request, call: Callable[[], T]) -> T:
        with self._asking(request):
            return call()
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, kind: str, namespace: str, name: str, source: str = "") -> dict[str, Any] | None:
        plural = PLURALS[kind]
        request = Request("get", GROUP, plural, namespace, name, source)
        try:
            with self._asking(request):
                return _dict(
                    self._objects.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
                )
        except ClusterError as exc:
            if "404" in str(exc) and "Not Found" in str(exc):
                return None
            raise
        return None  # pragma: no cover

    def _wait(
        self,
        manifest: ChaosManifest,
        done: Callable[[dict[str, Any] | None], bool],
        timeout: float,
        what: str,
    ) -> dict[str, Any] | None:
        plural = PLURALS[manifest.kind]
        namespace, name = manifest.namespace, manifest.name

        def stream(**kwargs: Any) -> Any:
            return self._objects.list_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, field_selector=f"metadata.name={name}", **kwargs
            )

        request = Request("watch", GROUP, plural, namespace, name, manifest.source)
        with self._asking(request):
            return wait_for(
                lambda: self._read(manifest.kind, namespace, name, manifest.source),
                stream,
                done,
                timeout,
                self.clock,
                what,
                self.watch_seconds,
                self.watch_stats,
            )
        return None  # pragma: no cover

    # -- the executor -----------------------------------------------------------------------------
    def body(self, manifest: ChaosManifest) -> dict[str, Any]:
        """The object sent to the cluster: the manifest as written, plus the run's labels."""
        doc = copy.deepcopy(manifest.document)
        labels = doc.setdefault("metadata", {}).setdefault("labels", {})
        labels[RUN_LABEL] = self.run_id
        labels[MANAGED_BY[0]] = MANAGED_BY[1]
        return doc

    def plan(self, manifest: Fault) -> list[str]:
        """The pods the manifest's selector matches now, as the mode would pick them (read-only);
        for a rollout, the Deployment (read to check it is there)."""
        if isinstance(manifest, Rollout):
            self._deployments.read(manifest.namespace, manifest.name, manifest.source)
            return [f"deployment/{manifest.name}"]
        selector = ",".join(f"{k}={v}" for k, v in sorted(manifest.selector.label_selectors.items()))
        names: list[str] = []
        for namespace in manifest.selector.namespaces or (manifest.namespace,):
            request = Request("list", "", "pods", namespace, source=manifest.source, collection=True)
            with self._asking(request):
                pods = self._core.list_namespaced_pod(namespace, label_selector=selector)
            for pod in pods.items:
                meta = pod.metadata
                if meta is not None and meta.name and meta.deletion_timestamp is None:
                    names.append(meta.name)
        return pick(manifest.mode, manifest.value, sorted(names), random.Random(0))

    def apply(self, manifest: Fault) -> ChaosStatus:
        """Dry run, create, and wait until Chaos Mesh reports every target injected; a rollout:
        patch the Deployment (the controller rolls the pods)."""
        key = f"{manifest.namespace}/{manifest.name}"
        if isinstance(manifest, Rollout):
            return self._roll(key, manifest)
        known = self._created.get(key)
        if known is not None and known[1].active:
            raise ChaosExistsError(f"{manifest.kind} {key} is already applied ({manifest.source})")
        plural = PLURALS.get(manifest.kind)
        if plural is None:
            raise ClusterError(f"{manifest.source}: kind {manifest.kind} is not one chaoslab creates")
        body = self.body(manifest)
        request = Request(
            "create", GROUP, plural, manifest.namespace, manifest.name, manifest.source, collection=True
        )
        create = self._objects.create_namespaced_custom_object
        try:
            self._call(
                request, lambda: create(GROUP, VERSION, manifest.namespace, plural, body, dry_run="All")
            )
        except ObjectConflictError as exc:
            raise ChaosExistsError(str(exc)) from None
        created = self._call(request, lambda: create(GROUP, VERSION, manifest.namespace, plural, body))
        status = status_of(_dict(created), manifest)
        self._created[key] = (manifest, status)
        log.info("created %s %s (run %s)", manifest.kind, key, self.run_id)
        what = f"{manifest.kind} {key} ({manifest.source}) injected"
        try:
            obj = self._wait(manifest, _injected, self.inject_timeout, what)
        except ClusterTimeoutError as exc:
            last = self._read(manifest.kind, manifest.namespace, manifest.name, manifest.source)
            failures = _failures(last)
            detail = f"; Chaos Mesh reports: {failures[-1]}" if failures else ""
            raise ClusterTimeoutError(f"{exc}{detail}") from None
        status = _gone(status) if obj is None else status_of(obj, manifest)
        self._created[key] = (manifest, status)
        return status

    def _roll(self, key: str, rollout: Rollout) -> ChaosStatus:
        known = self._rollouts.get(key)
        if known is not None and known[1].active:
            raise ChaosExistsError(f"a rollout of deployment {key} is already applied ({rollout.source})")
        self._deployments.apply(rollout)
        record = Record(f"deployment/{rollout.name}", RecordPhase.INJECTED, injected_count=1)
        status = ChaosStatus(
            rollout.namespace,
            rollout.name,
            rollout.kind,
            rollout.action,
            records=[record],
            created_at=self.clock.now(),
            duration=rollout.duration,
        )
        self._rollouts[key] = (rollout, status)
        log.info("rolled out deployment %s: %s", key, rollout.describe())
        if rollout.duration is not None:  # nobody on the cluster ends a rollout by itself
            self.clock.call_later(rollout.duration, lambda: self._expire(key))
        return status

    def _expire(self, key: str) -> None:
        rollout, status = self._rollouts[key]
        if status.active:
            try:
                self.recover(rollout.namespace, rollout.name)
            except ClusterError as exc:
                log.error("rolling back %s after its duration: %s", key, exc)

    def recover(self, namespace: str, name: str) -> ChaosStatus:
        """Delete the object and wait until Chaos Mesh has recovered every target and let it go;
        a rollout: put the Deployment's saved template back."""
        key = f"{namespace}/{name}"
        rolled = self._rollouts.get(key)
        if rolled is not None:
            rollout, status = rolled
            if status.active:
                self._deployments.roll_back(namespace, name, rollout.source)
                status = _gone(status)
                self._rollouts[key] = (rollout, status)
            return status
        known = self._created.get(key)
        if known is None:
            raise ChaosNotFoundError(f"no chaos object {key} was applied by this run")
        manifest, status = known
        plural = PLURALS[manifest.kind]
        request = Request("delete", GROUP, plural, namespace, name, manifest.source)
        try:
            self._call(
                request,
                lambda: self._objects.delete_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, name
                ),
            )
        except ClusterError as exc:
            if "404" not in str(exc):
                raise
        what = f"{manifest.kind} {key} ({manifest.source}) recovered and deleted"
        try:
            self._wait(manifest, lambda o: o is None, self.recover_timeout, what)
        except ClusterTimeoutError as exc:
            last = self._read(manifest.kind, namespace, name, manifest.source)
            failures = _failures(last)
            finalizers = ((last or {}).get("metadata") or {}).get("finalizers") or []
            detail = f"; finalizers {finalizers} still on it" if finalizers else ""
            detail += f"; Chaos Mesh reports: {failures[-1]}" if failures else ""
            raise ClusterTimeoutError(f"{exc}{detail}") from None
        status = _gone(status)
        self._created[key] = (manifest, status)
        return status

    def statuses(self) -> list[ChaosStatus]:
        """Every object this executor created, as the cluster reports it now (gone: recovered)."""
        out = []
        for key, (manifest, status) in list(self._created.items()):
            obj = self._read(manifest.kind, manifest.namespace, manifest.name, manifest.source)
            now = _gone(status) if obj is None else status_of(obj, manifest)
            self._created[key] = (manifest, now)
            out.append(now)
        return out + [status for _, status in self._rollouts.values()]

    def targets(self, status: ChaosStatus) -> list[str]:
        """The pod names of a status's records."""
        return [_pod_name(r.id) for r in status.records]


def _dict(value: object) -> dict[str, Any]:
    """A custom-object reply (the client types them as object; they are JSON objects)."""
    if not isinstance(value, dict):
        raise ClusterError(f"the API server answered {type(value).__name__}, not a JSON object")
    return value


def _records(obj: dict[str, Any] | None) -> list[Any]:
    return (((obj or {}).get("status") or {}).get("experiment") or {}).get("containerRecords") or []


def _injected(obj: dict[str, Any] | None) -> bool:
    """Chaos Mesh injected every target (or already recovered them: a short duration, or gone)."""
    if obj is None:
        return True
    return _condition(obj, "AllInjected") or (_condition(obj, "AllRecovered") and bool(_records(obj)))


@dataclass(frozen=True)
class Leftover:
    """A chaoslab-labelled chaos object found on the cluster."""

    kind: str
    namespace: str
    name: str
    run_id: str

    @property
    def key(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def find_labelled(api: ApiClient, namespaces: list[str], run_id: str | None = None) -> list[Leftover]:
    """Every chaos object chaoslab labelled in `namespaces` (of one run, or of any run)."""
    objects = client.CustomObjectsApi(api)
    selector = f"{RUN_LABEL}={run_id}" if run_id else f"{MANAGED_BY[0]}={MANAGED_BY[1]}"
    found: list[Leftover] = []
    for namespace in namespaces:
        for kind, plural in PLURALS.items():
            request = Request("list", GROUP, plural, namespace, collection=True)
            try:
                reply = objects.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, label_selector=selector
                )
            except ApiException as exc:
                raise explain(exc.status, exc.body, request, load_rules(RBAC_FILE)) from None
            except (Urllib3Error, OSError) as exc:
                raise unreachable(request, api.configuration.host, exc) from None
            for item in _dict(reply).get("items") or []:
                meta = item.get("metadata") or {}
                labels = meta.get("labels") or {}
                found.append(Leftover(kind, namespace, meta.get("name", ""), labels.get(RUN_LABEL, "")))
    return found


def delete_leftover(
    api: ApiClient, leftover: Leftover, timeout: float = RECOVER_TIMEOUT, clock: Clock | None = None
) -> bool:
    """Delete a labelled chaos object and wait until Chaos Mesh let it go; False if it was gone."""
    objects = client.CustomObjectsApi(api)
    plural = PLURALS[leftover.kind]
    ns, name = leftover.namespace, leftover.name
    request = Request("delete", GROUP, plural, ns, name)
    rules = load_rules(RBAC_FILE)

    def ask(call: Callable[[], T]) -> T:
        try:
            return call()
        except ApiException as exc:
            raise explain(exc.status, exc.body, request, rules) from None
        except (Urllib3Error, OSError) as exc:
            raise unreachable(request, api.configuration.host, exc) from None

    def get() -> dict[str, Any] | None:
        try:
            return _dict(objects.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise explain(exc.status, exc.body, request, rules) from None

    try:
        ask(lambda: objects.delete_namespaced_custom_object(GROUP, VERSION, ns, plural, name))
    except ClusterError as exc:
        if "404" in str(exc):
            return False
        raise

    def stream(**kwargs: Any) -> Any:
        return objects.list_namespaced_custom_object(
            GROUP, VERSION, ns, plural, field_selector=f"metadata.name={name}", **kwargs
        )

    ask(
        lambda: wait_for(
            get, stream, lambda o: o is None, timeout, clock or SystemClock(), f"{leftover.key} deleted"
        )
    )
    return True
