"""The manifests in k8s/: valid Kubernetes objects, in agreement with experiments/system.yaml."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from chaos.system import SystemProfile, load_system_profile
from service.__main__ import _parser
from tests.k8s.manifests import K8S, container, documents, env, find, manifest_files

KUBERNETES_VERSION = "1.30"
PROFILE = K8S.parent / "experiments" / "system.yaml"
REQUIRED = {
    "Namespace": {"ml-services", "chaos-testing"},
    "Deployment": {"ml-prediction-service", "feature-store"},
    "Service": {"ml-prediction-service", "feature-store"},
    "PodDisruptionBudget": {"ml-prediction-service"},
    "HorizontalPodAutoscaler": {"ml-prediction-service"},
    "ServiceAccount": {"chaoslab-runner"},
    "Role": {"chaoslab-runner", "chaoslab-runner-observer"},
}


@pytest.fixture(scope="module")
def profile() -> SystemProfile:
    return load_system_profile(PROFILE)


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_every_manifest_validates(path: Path) -> None:
    docs = documents(path)
    assert docs, f"{path.name} holds no document"
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_validation_catches_a_broken_manifest() -> None:
    broken = copy.deepcopy(find("Deployment", "ml-prediction-service", "deployment.yaml"))
    broken["spec"]["replicas"] = "ten"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    broken = copy.deepcopy(find("Deployment", "ml-prediction-service", "deployment.yaml"))
    container(broken)  # the one container
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSecond"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_required_objects_exist() -> None:
    found: dict[str, set[str]] = {}
    for path in manifest_files():
        for doc in documents(path):
            found.setdefault(doc["kind"], set()).add(doc["metadata"]["name"])
    for kind, names in REQUIRED.items():
        assert names <= found.get(kind, set()), kind


def test_deployment_agrees_with_the_profile(profile: SystemProfile) -> None:
    s = profile.service
    dep = find("Deployment", s.name, "deployment.yaml")
    assert dep["metadata"]["namespace"] == s.namespace
    assert dep["spec"]["replicas"] == s.replicas
    assert dep["spec"]["selector"]["matchLabels"] == s.labels
    assert s.labels.items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    c = container(dep)
    for probe, expected in (("readinessProbe", profile.readiness), ("livenessProbe", profile.liveness)):
        got = c[probe]
        assert got["periodSeconds"] == expected.period, probe
        assert got["failureThreshold"] == expected.failure_threshold, probe
        assert got["successThreshold"] == expected.success_threshold, probe
        assert got["timeoutSeconds"] == expected.timeout, probe
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    variables = env(dep)
    assert variables["CHAOS_ENABLED"] == str(profile.model_chaos.enabled).lower()
    assert float(variables["CHAOS_FAILURE_RATE"]) == pytest.approx(profile.model_chaos.total_rate)
    assert variables["CHAOSLAB_ADMIN_TOKEN"]["secretKeyRef"]["optional"] is True
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > s.request_timeout


def test_container_arguments_are_the_services_command_line(profile: SystemProfile) -> None:
    dep = find("Deployment", profile.service.name, "deployment.yaml")
    args = _parser().parse_args(container(dep)["args"])
    assert args.command == "serve"
    assert args.port == container(dep)["ports"][0]["containerPort"]
    assert args.redis_url == f"redis://{profile.feature_store.name}:6379/0"
    assert args.pod_name == "$(POD_NAME)"
    loader = find("Job", "feature-loader")
    assert _parser().parse_args(container(loader)["args"]).redis_url == args.redis_url


def test_the_deployments_roll_out_as_the_profile_says(profile: SystemProfile) -> None:
    strategy = profile.service.strategy
    for file in ("deployment.yaml", "chaotic-deployment.yaml"):
        rolling = find("Deployment", profile.service.name, file)["spec"]["strategy"]
        assert rolling["type"] == "RollingUpdate"
        assert str(rolling["rollingUpdate"]["maxSurge"]) == strategy.max_surge
        assert str(rolling["rollingUpdate"]["maxUnavailable"]) == strategy.max_unavailable


def test_chaotic_deployment_differs_only_in_model_chaos(profile: SystemProfile) -> None:
    normal = find("Deployment", profile.service.name, "deployment.yaml")
    chaotic = find("Deployment", profile.service.name, "chaotic-deployment.yaml")
    assert env(chaotic)["CHAOS_ENABLED"] == "true"
    assert env(chaotic)["CHAOS_FAILURE_RATE"] == "0.05"

    def without_chaos_env(doc: dict[str, Any]) -> dict[str, Any]:
        doc = copy.deepcopy(doc)
        c = doc["spec"]["template"]["spec"]["containers"][0]
        c["env"] = [e for e in c["env"] if not e["name"].startswith("CHAOS_")]
        return doc

    assert without_chaos_env(chaotic) == without_chaos_env(normal)


def test_service_pdb_and_hpa_select_the_pods(profile: SystemProfile) -> None:
    s = profile.service
    svc = find("Service", s.name)
    assert svc["metadata"]["namespace"] == s.namespace and svc["spec"]["selector"] == s.labels
    pdb = find("PodDisruptionBudget", s.name)
    assert pdb["spec"]["selector"]["matchLabels"] == s.labels
    hpa = find("HorizontalPodAutoscaler", s.name)
    assert hpa["spec"]["minReplicas"] == s.replicas
    assert hpa["spec"]["maxReplicas"] >= s.replicas
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": s.name}


def test_feature_store_agrees_with_the_profile(profile: SystemProfile) -> None:
    fs = profile.feature_store
    dep = find("Deployment", fs.name)
    assert dep["metadata"]["namespace"] == profile.service.namespace
    assert dep["spec"]["selector"]["matchLabels"] == fs.labels
    assert fs.labels.items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    svc = find("Service", fs.name)
    assert svc["spec"]["selector"] == fs.labels and svc["spec"]["ports"][0]["port"] == 6379


def test_runner_role_is_limited_to_chaos_mesh_in_chaos_testing() -> None:
    role = find("Role", "chaoslab-runner")
    assert role["metadata"]["namespace"] == "chaos-testing"
    assert {g for rule in role["rules"] for g in rule["apiGroups"]} == {"chaos-mesh.org"}
    observer = find("Role", "chaoslab-runner-observer")
    reading = [rule for rule in observer["rules"] if "patch" not in rule["verbs"]]
    assert {v for rule in reading for v in rule["verbs"]} == {"get", "list", "watch"}
    writing = [rule for rule in observer["rules"] if "patch" in rule["verbs"]]  # rollouts of the service only
    assert writing == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": ["ml-prediction-service"],
            "verbs": ["patch"],
        }
    ]
    for name in ("chaoslab-runner", "chaoslab-runner-observer"):
        binding = find("RoleBinding", name)
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "chaoslab-runner", "namespace": "chaos-testing"}
        ]
        assert binding["roleRef"]["name"] == name
