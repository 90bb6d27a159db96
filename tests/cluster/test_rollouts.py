"""Rollout steps on a real control plane: the runner's account patches the service's Deployment,
the real Deployment controller rolls the (kwok) pods, and the rollback and cleanup put the saved
template back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiClient

from chaos.spec import load_experiment
from chaos.system import SystemProfile
from runner.executors.cluster_view import ClusterSystem
from runner.executors.deployment_rollout import ROLLBACK_ANNOTATION
from runner.executors.kubernetes import KubernetesExecutor
from testcluster.cluster import TestCluster
from tests.cluster.conftest import NAMESPACE, ROOT, ready_pods, wait_until
from tests.cluster.test_rbac import _token_client

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]
NAME = "ml-prediction-service"


def _deployment(api: ApiClient) -> Any:
    return client.AppsV1Api(api).read_namespaced_deployment(NAME, NAMESPACE)


def _env(pod: Any) -> dict[str, str]:
    return {e.name: e.value for e in pod.spec.containers[0].env or [] if e.value is not None}


def _rolled(api: ApiClient, want: dict[str, str | None], replicas: int = 4) -> bool:
    """Every ready pod runs a template whose env has `want` (None: the variable is not set)."""
    pods = ready_pods(api)
    return len(pods) == replicas and all(all(_env(p).get(k) == v for k, v in want.items()) for p in pods)


ORIGINAL = {"CHAOS_ENABLED": "false", "CHAOSLAB_MODEL_VERSION": None}
"""k8s/deployment.yaml's container: model chaos off, the default model version."""


@pytest.fixture(scope="module")
def runner_api(cluster: TestCluster, admin: ApiClient) -> ApiClient:
    for doc in yaml.safe_load_all((ROOT / "k8s" / "rbac.yaml").read_text()):
        cluster.apply(doc)
    return _token_client(cluster, admin, "chaoslab-runner")


def test_a_model_rollout_is_rolled_out_by_the_deployment_controller_and_rolled_back(
    admin: ApiClient, runner_api: ApiClient
) -> None:
    experiment = load_experiment(ROOT / "experiments" / "bad-model.experiment.yaml")
    (step,) = experiment.chaos
    executor = KubernetesExecutor(runner_api, run_id="run-model")
    before = _deployment(admin).spec.template
    assert executor.plan(step.manifest) == [f"deployment/{NAME}"]
    status = executor.apply(step.manifest)
    assert status.active and status.kind == "Deployment"
    assert ROLLBACK_ANNOTATION in _deployment(admin).metadata.annotations
    wait_until(lambda: _rolled(admin, {"CHAOSLAB_MODEL_VERSION": "v3-bad"}), what="pods on v3-bad")
    system = ClusterSystem(runner_api, SystemProfile(), "", "", "test cluster")
    assert system.template_env()["CHAOSLAB_MODEL_VERSION"] == "v3-bad"

    executor.recover(status.namespace, status.name)
    assert not status.active
    wait_until(lambda: _rolled(admin, ORIGINAL), what="pods back on the original template")
    after = _deployment(admin)
    assert ROLLBACK_ANNOTATION not in (after.metadata.annotations or {})
    assert client.ApiClient().sanitize_for_serialization(after.spec.template) == (
        client.ApiClient().sanitize_for_serialization(before)
    )
    assert system.template_env() == {}


def test_the_chaotic_deployment_and_the_cleanup_of_a_rollout_left_in_place(
    admin: ApiClient, runner_api: ApiClient, tmp_path: Path
) -> None:
    experiment = load_experiment(ROOT / "experiments" / "model-chaos.experiment.yaml")
    (step,) = experiment.chaos
    executor = KubernetesExecutor(runner_api, run_id="run-chaotic")
    executor.apply(step.manifest)
    wait_until(
        lambda: _rolled(admin, {"CHAOS_ENABLED": "true", "CHAOS_FAILURE_RATE": "0.05"}),
        what="pods on the chaotic template",
    )
    again = KubernetesExecutor(runner_api, run_id="run-other")
    with pytest.raises(Exception, match="still in place"):  # one rollout at a time, across runs too
        again.apply(step.manifest)
    # the run crashed here: cleanup finds the annotation and rolls back
    system = ClusterSystem(runner_api, SystemProfile(), "", "", "test cluster")
    assert system.template_env()["CHAOS_ENABLED"] == "true"
    system.roll_back()
    wait_until(lambda: _rolled(admin, ORIGINAL), what="pods back after the cleanup")
    assert system.template_env() == {}
