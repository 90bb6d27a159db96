"""Rollouts on a cluster: the service's Deployment patched to another pod template, and rolled back.

`apply` keeps the Deployment's current pod template in an annotation (`chaoslab.dev/rollback-template`)
and changes the template in the same patch: a rollout from a Deployment file replaces it with the file's
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
        body: Any
        if rollout.action == MODEL_ROLLOUT:  # one strategic merge: the annotation and the env entry
            env = {"name": ENV_MODEL_VERSION, "value": rollout.model_version or ""}
            body = {
                "metadata": {"annotations": {ROLLBACK_ANNOTATION: saved}},
                "spec": {"template": {"spec": {"containers": [{"name": rollout.container, "env": [env]}]}}},
            }
        else:
            body = [
                {
                    "op": "add",
                    "path": "/metadata/annotations",
                    "value": {**annotations, ROLLBACK_ANNOTATION: saved},
                },
                {"op": "replace", "path": "/spec/template", "value": rollout.template},
            ]
        self._send(rollout.namespace, rollout.name, rollout.source, body)

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

    def template_env(self, namespace: str, name: str, container: str) -> dict[str, str]:
        """The container's literal env while a rollout of chaoslab is in place (the annotation is
        there), else {}."""
        live = self.read(namespace, name)
        if ROLLBACK_ANNOTATION not in ((live.get("metadata") or {}).get("annotations") or {}):
            return {}
        containers = live["spec"]["template"]["spec"]["containers"]
        env = [e for c in containers if c.get("name") == container for e in c.get("env") or []]
        return {str(e["name"]): str(e["value"]) for e in env if "value" in e}

    def _send(self, namespace: str, name: str, source: str, body: Any) -> None:
        """A JSON patch (a list of operations) or a strategic merge patch (an object)."""
        kind = JSON_PATCH if isinstance(body, list) else STRATEGIC_MERGE
        request = Request("patch", "apps", "deployments", namespace, name, source)
        patch = self._apps.patch_namespaced_deployment
        self._ask(request, lambda: patch(name, namespace, body, _content_type=kind))


__all__ = ["ROLLBACK_ANNOTATION", "DeploymentRollouts"]
