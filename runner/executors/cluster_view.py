"""The runner's view of a Kubernetes cluster (SystemView): the service's pods and their readiness,
the Deployment's desired replicas, the alert rules Prometheus has, and the chaos still in place.

What the testbed calls a pod failure is, on a cluster, a pod whose containers run Chaos Mesh's
pause image; a network fault is a chaoslab-labelled NetworkChaos object. Undoing either means
deleting the chaos object that caused it, which lets Chaos Mesh restore the pod; a failed pod no
chaos object accounts for any more (the controller died mid-recovery) is deleted, so that its
ReplicaSet recreates it from the Deployment's template. A rollout left in place is the service's
Deployment with chaoslab's rollback annotation (runner.executors.deployment_rollout).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from kubernetes import client
from kubernetes.client import ApiClient, ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from chaos.errors import ChaosLabError
from chaos.rbac import load_rules
from chaos.system import SystemProfile
from runner.executors.base import PodState
from runner.executors.cluster_errors import ClusterError, Request, explain, unreachable
from runner.executors.deployment_rollout import DeploymentRollouts
from runner.executors.kubernetes import GROUP, MANAGED_BY, PLURALS, RBAC_FILE, VERSION

log = logging.getLogger(__name__)

PAUSE_IMAGES = ("gcr.io/google-containers/pause", "registry.k8s.io/pause", "k8s.gcr.io/pause")
"""Images Chaos Mesh's pod-failure swaps in (its POD_FAILURE_PAUSE_IMAGE setting; the first is its
default)."""


def is_paused(pod: Any) -> bool:
    containers = (pod.spec.containers if pod.spec else None) or []
    return bool(containers) and all(str(c.image).split(":")[0] in PAUSE_IMAGES for c in containers)


def is_ready(pod: Any) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


@dataclass
class ClusterSystem:
    """SystemView of the service on a cluster, through the Kubernetes API and Prometheus."""

    api: ApiClient
    profile: SystemProfile
    service_url: str
    prometheus_url: str
    location: str
    chaos_namespaces: tuple[str, ...] = ("chaos-testing",)
    _rules: list[Any] = field(default_factory=lambda: load_rules(RBAC_FILE))

    def __post_init__(self) -> None:
        self._core = client.CoreV1Api(self.api)
        self._apps = client.AppsV1Api(self.api)
        self._objects = client.CustomObjectsApi(self.api)
        self._deployments = DeploymentRollouts(self.api, self._ask)

    @property
    def namespace(self) -> str:
        return self.profile.service.namespace

    def _ask(self, request: Request, call: Any) -> Any:
        try:
            return call()
        except ApiException as exc:
            if not exc.status:
                raise unreachable(request, self.api.configuration.host, exc) from None
            raise explain(exc.status, exc.body, request, self._rules) from None
        except (Urllib3Error, OSError) as exc:
            raise unreachable(request, self.api.configuration.host, exc) from None

    def _pods(self) -> list[Any]:
        selector = ",".join(f"{k}={v}" for k, v in sorted(self.profile.service.labels.items()))
        request = Request("list", "", "pods", self.namespace, collection=True)
        reply = self._ask(
            request, lambda: self._core.list_namespaced_pod(self.namespace, label_selector=selector)
        )
        return [p for p in reply.items if p.metadata.deletion_timestamp is None]

    # -- SystemView ----------------------------------------------------------------------------------
    def phase(self) -> str:
        request = Request("get", "", "version")
        self._ask(request, lambda: client.VersionApi(self.api).get_code())
        return "running"

    def pods(self) -> list[PodState]:
        return [PodState(p.metadata.name, is_ready(p), is_paused(p)) for p in self._pods()]

    def template_env(self) -> dict[str, str]:
        """The service container's literal env while a chaoslab rollout is in place, else {}."""
        name = self.profile.service.name
        return self._deployments.template_env(self.namespace, name, name)

    def roll_back(self) -> None:
        self._deployments.roll_back(self.namespace, self.profile.service.name)

    def desired(self) -> int:
        name = self.profile.service.name
        request = Request("get", "apps", "deployments", self.namespace, name)
        deployment = self._ask(request, lambda: self._apps.read_namespaced_deployment(name, self.namespace))
        return int(deployment.spec.replicas or 0)

    def alert_names(self) -> list[str]:
        try:
            reply = httpx.get(
                f"{self.prometheus_url.rstrip('/')}/api/v1/rules", params={"type": "alert"}, timeout=10
            )
            reply.raise_for_status()
            groups = reply.json()["data"]["groups"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise ChaosLabError(
                f"Prometheus at {self.prometheus_url}: cannot read its alert rules: {exc}"
            ) from None
        return [str(rule["name"]) for group in groups for rule in group.get("rules", [])]

    def _labelled(self, kind: str) -> list[dict[str, Any]]:
        plural = PLURALS[kind]
        out: list[dict[str, Any]] = []
        for namespace in self.chaos_namespaces:
            request = Request("list", GROUP, plural, namespace, collection=True)
            reply = self._ask(
                request,
                lambda ns=namespace: self._objects.list_namespaced_custom_object(
                    GROUP, VERSION, ns, plural, label_selector=f"{MANAGED_BY[0]}={MANAGED_BY[1]}"
                ),
            )
            out += reply.get("items") or []
        return out

    def faults(self) -> list[str]:
        """The chaoslab-labelled NetworkChaos objects still on the cluster, as namespace/name."""
        return [
            f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in self._labelled("NetworkChaos")
        ]

    def _delete(self, kind: str, namespace: str, name: str) -> bool:
        plural = PLURALS[kind]
        request = Request("delete", GROUP, plural, namespace, name)
        try:
            self._ask(
                request,
                lambda: self._objects.delete_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, name
                ),
            )
        except ClusterError as exc:
            if "404" in str(exc):
                return False
            raise
        return True

    def recover_pod_failure(self, name: str) -> None:
        """Delete the chaoslab PodChaos objects whose records hold pod `name`; with none left, delete
        the pod so that its ReplicaSet recreates it from the template."""
        target = f"{self.namespace}/{name}"
        holders = [
            o
            for o in self._labelled("PodChaos")
            if any(
                str(r.get("id", "")).startswith(target)
                for r in ((o.get("status") or {}).get("experiment") or {}).get("containerRecords") or []
            )
        ]
        for obj in holders:
            meta = obj["metadata"]
            self._delete("PodChaos", meta["namespace"], meta["name"])
        if not holders:
            log.warning("pod %s runs the pause image and no chaos object holds it: deleting the pod", name)
            request = Request("delete", "", "pods", self.namespace, name)
            self._ask(request, lambda: self._core.delete_namespaced_pod(name, self.namespace))

    def clear_fault(self, name: str) -> bool:
        namespace, _, obj = name.partition("/")
        return self._delete("NetworkChaos", namespace, obj)
