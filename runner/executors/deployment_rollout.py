"""Rollouts on a cluster: the service's Deployment patched to another pod template, and rolled back.

`apply` keeps the Deployment's current pod template in an annotation (`chaoslab.dev/rollback-template`)
and then changes the template: a rollout from a Deployment file replaces it with the file's
template (JSON patch, as `kubectl apply` of that file changes only the template here); a model
rollout sets the container's `CHAOSLAB_MODEL_VERSION` (strategic merge patch, env merged by name).
The Deployment controller then rolls the pods with the Deployment's own strategy. Recovery puts the
saved template back and drops the annotation, which is `kubectl rollout undo` with a record that
survives a crash: `chaoslab cleanup --backend kubernetes` finds the annotation and rolls back.
Neither waits for the rollout to finish: the runner watches the pods, as it does on the testbed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client import ApiClient

from chaos.rollout import ENV_MODEL_VERSION, MODEL_ROLLOUT, Rollout
from runner.executors.cluster_errors import ClusterError, Request

ROLLBACK_ANNOTATION = "chaoslab.dev/rollback-template"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE = "application/strategic-merge-patch+json"

Ask = Callable[[Request, Callable[[], Any]], Any]
"""Runs one API call, turning its errors into one-line ClusterErrors (the caller's `_call`)."""


class DeploymentRollouts:
    """Patches one namespace's Deployments for rollouts and rolls them back."""

    def __init__(self, api: ApiClient, ask: Ask) -> None:
        self._api = api
        self._apps = client.AppsV1Api(api)
        self._ask = ask

    def read(self, namespace: str, name: str, source: str = "") -> dict[str, Any]:
        request = Request("get", "apps", "deployments", namespace, name, source)
        obj = self._ask(request, lambda: self._apps.read_namespaced_deployment(name, namespace))
        data: dict[str, Any] = self._api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
        return data

    def apply(self, rollout: Rollout) -> None:
        """Save the running template in the annotation, then change the template."""
        live = self.read(rollout.namespace, rollout.name, rollout.source)
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        if ROLLBACK_ANNOTATION in annotations:
            raise ClusterError(
                f"{rollout.source}: deployment {rollout.namespace}/{rollout.name} has a rollout of an "
                f"earlier run still in place (annotation {ROLLBACK_ANNOTATION}); run `chaoslab cleanup "
                "--backend kubernetes` first"
            )
        saved = json.dumps(live["spec"]["template"], sort_keys=True)
        ops: list[dict[str, Any]] = [
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": {**annotations, ROLLBACK_ANNOTATION: saved},
            }
        ]
        if rollout.action == MODEL_ROLLOUT:
            self._patch(rollout, ops)
            version = rollout.model_version or ""
            env = {"name": ENV_MODEL_VERSION, "value": version}
            merge = {
                "spec": {"template": {"spec": {"containers": [{"name": rollout.container, "env": [env]}]}}}
            }
            self._patch(rollout, merge)
            return
        ops.append({"op": "replace", "path": "/spec/template", "value": rollout.template})
        self._patch(rollout, ops)

    def roll_back(self, namespace: str, name: str, source: str = "") -> bool:
        """Put the saved template back; False when no rollout of chaoslab is in place."""
        live = self.read(namespace, name, source)
        annotations = dict((live.get("metadata") or {}).get("annotations") or {})
        saved = annotations.pop(ROLLBACK_ANNOTATION, None)
        if saved is None:
            return False
        ops = [
            {"op": "replace", "path": "/spec/template", "value": json.loads(saved)},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ]
        self._send(namespace, name, source, ops)
        return True

    def in_place(self, namespace: str, name: str) -> bool:
        """Whether a rollout of chaoslab is in place (the annotation is there)."""
        live = self.read(namespace, name)
        return ROLLBACK_ANNOTATION in ((live.get("metadata") or {}).get("annotations") or {})

    def _patch(self, rollout: Rollout, body: Any) -> None:
        self._send(rollout.namespace, rollout.name, rollout.source, body)

    def _send(self, namespace: str, name: str, source: str, body: Any) -> None:
        """A JSON patch (a list of operations) or a strategic merge patch (an object)."""
        kind = JSON_PATCH if isinstance(body, list) else STRATEGIC_MERGE
        request = Request("patch", "apps", "deployments", namespace, name, source)
        patch = self._apps.patch_namespaced_deployment
        self._ask(request, lambda: patch(name, namespace, body, _content_type=kind))


__all__ = ["ROLLBACK_ANNOTATION", "DeploymentRollouts"]
