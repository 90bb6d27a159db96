"""`chaoslab doctor --backend kubernetes`: can this experiment run on this cluster, as this identity?

Each check is one line, passed or failed, with what to do when it failed:

- the API server answers (and its version);
- Chaos Mesh is installed: its API group `chaos-mesh.org/v1alpha1` is served (discovery, which every
  authenticated user may read), else the install command and the dashboard's port-forward;
- Chaos Mesh's controller answers: every chaos manifest of the experiment passes a server-side dry
  run, which goes through Chaos Mesh's admission webhooks (served by its controller-manager);
- RBAC allows what the run does: one SelfSubjectAccessReview per verb and resource, in the chaos
  objects' namespace and the service's; a denial names the rule of k8s/rbac.yaml that grants it;
- the service's namespace and label selector match pods, and each pod-chaos manifest stays inside
  the experiment's blast radius for the pods that exist now;
- Prometheus answers and has every alert the success criteria expect to fire.

`chaoslab run --backend kubernetes` runs the same checks first and refuses to start on a failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx
from kubernetes import client
from kubernetes.client import ApiClient, ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from chaos.errors import PrerequisiteError
from chaos.rbac import granting_rule, load_rules
from chaos.selection import max_count
from chaos.spec import AlertsCriterion, Experiment
from runner.executors.cluster_errors import CHAOS_MESH_INSTALL, Request, explain
from runner.executors.kubernetes import GROUP, PLURALS, RBAC_FILE, VERSION, KubernetesExecutor

DASHBOARD = "kubectl -n chaos-mesh port-forward svc/chaos-dashboard 2333:2333 (then http://127.0.0.1:2333)"
CHAOS_VERBS = ("create", "get", "list", "watch", "delete")
OBSERVE = (("", "pods", ("get", "list", "watch")), ("apps", "deployments", ("get", "list", "watch")))


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        hint = f" -> {self.hint}" if self.hint and not self.ok else ""
        return f"{mark} {self.name}: {self.detail}{hint}"


class DoctorFailedError(PrerequisiteError):
    hint = "`chaoslab doctor --backend kubernetes` shows every check"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}"
    return str(getattr(exc, "reason", None) or exc)


def check_api(api: ApiClient) -> Check:
    try:
        version = client.VersionApi(api).get_code()
    except (ApiException, Urllib3Error, OSError) as exc:
        return Check(
            "API server",
            False,
            f"{api.configuration.host} does not answer: {_reason(exc)}",
            "check the kubeconfig's server and credentials",
        )
    return Check("API server", True, f"{api.configuration.host}, Kubernetes {version.git_version}")


def check_chaos_mesh(api: ApiClient) -> Check:
    try:
        reply = client.CustomObjectsApi(api).get_api_resources(GROUP, VERSION)
    except ApiException as exc:
        if exc.status == 404:
            return Check(
                "Chaos Mesh CRDs",
                False,
                f"the cluster serves no {GROUP}/{VERSION}",
                f"{CHAOS_MESH_INSTALL}; dashboard: {DASHBOARD}",
            )
        return Check("Chaos Mesh CRDs", False, f"discovery failed: {_reason(exc)}")
    except (Urllib3Error, OSError) as exc:
        return Check("Chaos Mesh CRDs", False, f"discovery failed: {_reason(exc)}")
    served = {r.name for r in (reply.resources or [])}
    missing = sorted(set(PLURALS.values()) - served)
    if missing:
        return Check("Chaos Mesh CRDs", False, f"missing {', '.join(missing)}", CHAOS_MESH_INSTALL)
    return Check("Chaos Mesh CRDs", True, f"{GROUP}/{VERSION} serves {', '.join(sorted(PLURALS.values()))}")


def check_dry_runs(api: ApiClient, experiment: Experiment) -> list[Check]:
    """Every manifest through a server-side dry run: schema, RBAC and Chaos Mesh's webhooks."""
    executor = KubernetesExecutor(api, run_id="doctor")
    objects = client.CustomObjectsApi(api)
    checks = []
    for step in experiment.chaos:
        m = step.chaos_mesh
        if m is None:  # a rollout patches the Deployment; `target pods` checks that it is there
            continue
        name = f"dry run of {m.kind} {m.namespace}/{m.name}"
        try:
            objects.create_namespaced_custom_object(
                GROUP, VERSION, m.namespace, PLURALS[m.kind], executor.body(m), dry_run="All"
            )
        except ApiException as exc:
            error = explain(
                exc.status,
                exc.body,
                Request("create", GROUP, PLURALS[m.kind], m.namespace, m.name, m.source, collection=True),
                load_rules(RBAC_FILE),
            )
            checks.append(Check(name, False, str(error), error.hint))
            continue
        except (Urllib3Error, OSError) as exc:
            checks.append(Check(name, False, _reason(exc)))
            continue
        checks.append(Check(name, True, f"accepted, Chaos Mesh's webhooks included ({m.source})"))
    return checks


def _review(
    api: ApiClient, verb: str, group: str, resource: str, namespace: str, name: str | None = None
) -> bool:
    attributes = client.V1ResourceAttributes(
        verb=verb, group=group, resource=resource, namespace=namespace, name=name
    )
    spec = client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)
    reply = client.AuthorizationV1Api(api).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(spec=spec)
    )
    return reply.status is not None and bool(reply.status.allowed)


def check_rbac(api: ApiClient, experiment: Experiment) -> list[Check]:
    rules = load_rules(RBAC_FILE)
    wanted: list[tuple[str, str, str, str, str | None]] = []
    manifests = [s.chaos_mesh for s in experiment.chaos if s.chaos_mesh is not None]
    for namespace in sorted({m.namespace for m in manifests}):
        kinds = sorted({PLURALS[m.kind] for m in manifests if m.namespace == namespace})
        wanted += [(verb, GROUP, plural, namespace, None) for plural in kinds for verb in CHAOS_VERBS]
    service_ns = experiment.system.service.namespace
    wanted += [
        (verb, group, resource, service_ns, None) for group, resource, verbs in OBSERVE for verb in verbs
    ]
    for rollout in [s.rollout for s in experiment.chaos if s.rollout is not None]:
        wanted.append(("patch", "apps", "deployments", rollout.namespace, rollout.name))
    denied, allowed = [], 0
    try:
        for verb, group, resource, namespace, name in wanted:
            if _review(api, verb, group, resource, namespace, name):
                allowed += 1
            else:
                denied.append((verb, group, resource, namespace))
    except (ApiException, Urllib3Error, OSError) as exc:
        return [Check("RBAC", False, f"SelfSubjectAccessReview failed: {_reason(exc)}")]
    if not denied:
        return [Check("RBAC", True, f"{allowed} access reviews allowed (chaos objects, pods, deployments)")]
    checks = []
    for verb, group, resource, namespace in denied:
        what = f"{resource}.{group}" if group else resource
        rule = granting_rule(rules, verb, group, resource, namespace)
        hint = f"{rule.describe()} grants it" if rule else "k8s/rbac.yaml has no rule for it"
        checks.append(Check("RBAC", False, f"may not {verb} {what} in namespace {namespace}", hint))
    return checks


def check_targets(api: ApiClient, experiment: Experiment) -> list[Check]:
    service = experiment.system.service
    selector = ",".join(f"{k}={v}" for k, v in sorted(service.labels.items()))
    try:
        pods = client.CoreV1Api(api).list_namespaced_pod(service.namespace, label_selector=selector).items
    except (ApiException, Urllib3Error, OSError) as exc:
        return [Check("target pods", False, f"cannot list pods in {service.namespace}: {_reason(exc)}")]
    live = [p for p in pods if p.metadata is not None and p.metadata.deletion_timestamp is None]
    if not live:
        return [
            Check(
                "target pods",
                False,
                f"no pod in namespace {service.namespace} matches {selector}",
                "deploy k8s/deployment.yaml, or fix the profile's service.namespace and labels",
            )
        ]
    checks = [Check("target pods", True, f"{len(live)} pods match {selector} in {service.namespace}")]
    scope = experiment.scope
    limit = len(live) * scope.max_percent / 100
    if scope.max_pods is not None:
        limit = min(limit, scope.max_pods)
    for step in experiment.chaos:
        m = step.chaos_mesh
        if m is None or not m.is_pod_chaos:
            continue
        hit = max_count(m.mode, m.value, len(live))
        ok = hit <= limit
        checks.append(
            Check(
                f"blast radius of {m.name}",
                ok,
                f"{m.mode} {m.value or ''} hits {hit} of {len(live)} pods; the limit is {math.floor(limit)}",
                "lower the manifest's value or raise scope.blastRadius",
            )
        )
    return checks


def check_prometheus(url: str, experiment: Experiment) -> Check:
    expected = sorted(
        {a for c in experiment.success_criteria if isinstance(c, AlertsCriterion) for a in c.alerts}
    )
    try:
        reply = httpx.get(f"{url.rstrip('/')}/api/v1/rules", params={"type": "alert"}, timeout=10)
        reply.raise_for_status()
        groups: list[dict[str, Any]] = reply.json()["data"]["groups"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return Check(
            "Prometheus",
            False,
            f"{url}: {exc}",
            "check --prometheus (docs/kubernetes.md shows the port-forward)",
        )
    names = {str(r["name"]) for g in groups for r in g.get("rules", [])}
    missing = [a for a in expected if a not in names]
    if missing:
        return Check(
            "Prometheus",
            False,
            f"{url} lacks the alert rules {', '.join(missing)}",
            "load k8s/alert-rules.yaml into it (k8s/prometheus-config.yaml)",
        )
    return Check(
        "Prometheus", True, f"{url} has {len(names)} alert rules, the {len(expected)} expected included"
    )


def doctor(api: ApiClient, experiment: Experiment, prometheus: str | None) -> list[Check]:
    """Every check, in order; later ones are skipped when the API server does not answer."""
    first = check_api(api)
    if not first.ok:
        return [first]
    checks = [first, check_chaos_mesh(api)]
    if checks[-1].ok:
        checks += check_dry_runs(api, experiment)
    checks += check_rbac(api, experiment)
    checks += check_targets(api, experiment)
    if prometheus:
        checks.append(check_prometheus(prometheus, experiment))
    return checks


def require(checks: list[Check]) -> None:
    """Raise DoctorFailedError naming every failed check."""
    failed = [c for c in checks if not c.ok]
    if failed:
        raise DoctorFailedError("; ".join(f"{c.name}: {c.detail}" for c in failed))


__all__ = ["Check", "DoctorFailedError", "doctor", "require"]
