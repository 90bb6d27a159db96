"""What a Kubernetes API error means for a chaos run, as one line.

The API server answers with a Status object; `explain` turns it into a ChaosLabError whose message
says what was asked (verb, resource, namespace, object, the manifest file) and what the server said,
and whose hint says what to do:

- 401: the kubeconfig's credentials were not accepted.
- 403: the identity may not do that; the hint names the rule of k8s/rbac.yaml that grants it. An
  admission webhook's denial (Chaos Mesh validates its objects that way) also comes as 403 from
  some webhooks: it is a rejected manifest, not missing access.
- 404 on a chaos-mesh.org resource list: the CRD is not installed (the hint is the install
  command); 404 on one object: it is gone.
- 409: an object of that name exists already.
- 422 (or a webhook denial): the manifest was rejected; the message names the fields.
- no answer: the server is unreachable (connection refused, DNS, TLS) or timed out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chaos.errors import ChaosLabError
from chaos.rbac import Rule, granting_rule

CHAOS_MESH_INSTALL = (
    "install Chaos Mesh: curl -sSL https://mirrors.chaos-mesh.org/v2.7.2/install.sh | bash "
    "(or helm install chaos-mesh chaos-mesh/chaos-mesh -n chaos-mesh --create-namespace)"
)


class ClusterError(ChaosLabError):
    """The cluster refused or could not answer a request."""


class ClusterUnauthorizedError(ClusterError):
    hint = "check the kubeconfig's user (token or client certificate) and --context"


class ClusterForbiddenError(ClusterError):
    hint = "grant it with k8s/rbac.yaml (kubectl apply -f k8s/rbac.yaml) or run as a user that has it"


class ChaosMeshMissingError(ClusterError):
    hint = CHAOS_MESH_INSTALL


class ObjectGoneError(ClusterError):
    hint = (
        "it was deleted by someone else, or never created; "
        "`chaoslab cleanup --backend kubernetes` lists leftovers"
    )


class ObjectConflictError(ClusterError):
    hint = (
        "delete it (chaoslab cleanup --backend kubernetes --all) or give the manifest another metadata.name"
    )


class ManifestRejectedError(ClusterError):
    hint = "fix the named fields of the manifest; `chaoslab validate` checks most of them offline"


class ClusterUnreachableError(ClusterError):
    hint = "check the kubeconfig's server address, the network, and that the API server is up"


class ClusterTimeoutError(ClusterError):
    hint = "the cluster is slow or the controller is not running; `chaoslab doctor --backend kubernetes`"


@dataclass(frozen=True)
class Request:
    """What was asked of the API server, for the message."""

    verb: str
    group: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    source: str = ""
    collection: bool = False
    """A request on the resource's collection (create, list) rather than on one object."""

    def describe(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        if self.name:
            what += f" {self.name}"
        where = f" in namespace {self.namespace}" if self.namespace else ""
        origin = f" ({self.source})" if self.source else ""
        return f"{self.verb} {what}{where}{origin}"


def status_of(body: str | bytes | None) -> dict[str, Any]:
    """The Status object of an error reply, or {} when the body is not one."""
    if not body:
        return {}
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def _causes(status: dict[str, Any]) -> str:
    causes = (status.get("details") or {}).get("causes") or []
    parts = [f"{c.get('field', '?')}: {c.get('message', '')}".strip() for c in causes if isinstance(c, dict)]
    return "; ".join(parts)


def explain(code: int, body: str | bytes | None, request: Request, rules: list[Rule]) -> ClusterError:
    """The ClusterError for an API error reply with HTTP status `code`."""
    status = status_of(body)
    message = str(status.get("message") or (body.decode() if isinstance(body, bytes) else body) or "")
    asked = request.describe()
    if "admission webhook" in message and "denied" in message:
        return ManifestRejectedError(f"{asked}: rejected by the cluster: {message}")
    if code == 401:
        return ClusterUnauthorizedError(f"{asked}: 401 Unauthorized: {message}")
    if code == 403:
        error = ClusterForbiddenError(f"{asked}: 403 Forbidden: {message}")
        rule = granting_rule(rules, request.verb, request.group, request.resource, request.namespace)
        if rule is not None:
            error.hint = f"{rule.describe()} grants it: apply it and bind it to this identity"
        return error
    if code == 404:
        if request.group == "chaos-mesh.org" and (
            request.collection or "could not find the requested" in message
        ):
            return ChaosMeshMissingError(
                f"{asked}: 404: the cluster has no {request.resource}.{request.group} resource "
                "(the Chaos Mesh CRDs are not installed)"
            )
        return ObjectGoneError(f"{asked}: 404 Not Found: {message}")
    if code == 409:
        return ObjectConflictError(f"{asked}: 409 Conflict: {message}")
    if code == 422:
        causes = _causes(status)
        return ManifestRejectedError(f"{asked}: 422 Invalid: {causes or message}")
    if code in (408, 504):
        return ClusterTimeoutError(f"{asked}: {code}: {message}")
    return ClusterError(f"{asked}: {code} {status.get('reason', '')}: {message}".replace("  ", " "))


def unreachable(request: Request, server: str, exc: BaseException) -> ClusterUnreachableError:
    """The error for a request that got no HTTP answer at all."""
    reason = str(getattr(exc, "reason", None) or exc).strip()
    return ClusterUnreachableError(f"{request.describe()}: no answer from {server}: {reason}")
