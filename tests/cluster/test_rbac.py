"""The runner's identity from k8s/rbac.yaml on a real API server with RBAC on: a ServiceAccount
bound by that file may run chaos; one that is not gets a 403 whose hint names the rule it lacks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiClient

from runner.executors.cluster_errors import ClusterForbiddenError
from runner.executors.kubernetes import KubernetesExecutor
from testcluster.cluster import TestCluster
from tests.cluster.conftest import CHAOS_NAMESPACE, ROOT
from tests.cluster.manifests import seed

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def _token_client(cluster: TestCluster, admin: ApiClient, account: str) -> ApiClient:
    core = client.CoreV1Api(admin)
    if account not in [a.metadata.name for a in core.list_namespaced_service_account(CHAOS_NAMESPACE).items]:
        core.create_namespaced_service_account(CHAOS_NAMESPACE, {"metadata": {"name": account}})
    token = core.create_namespaced_service_account_token(
        account, CHAOS_NAMESPACE, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    from kubernetes import config

    return config.new_client_from_config(str(cluster.write_kubeconfig(account, token=token)))


def test_the_runner_account_of_k8s_rbac_yaml_can_run_chaos(
    cluster: TestCluster, admin: ApiClient, tmp_path: Path
) -> None:
    for doc in yaml.safe_load_all((ROOT / "k8s" / "rbac.yaml").read_text()):
        cluster.apply(doc)
    runner = _token_client(cluster, admin, "chaoslab-runner")
    executor = KubernetesExecutor(runner, run_id="run-rbac")
    manifest = seed("pod-failure", tmp_path, value="25")
    assert len(executor.plan(manifest)) == 1
    status = executor.apply(manifest)
    assert status.records
    executor.recover(manifest.namespace, manifest.name)


def test_an_account_without_the_binding_gets_the_rule_it_lacks(
    cluster: TestCluster, admin: ApiClient, tmp_path: Path
) -> None:
    stranger = _token_client(cluster, admin, "chaoslab-nobody")
    manifest = seed("pod-failure", tmp_path, value="25")
    with pytest.raises(ClusterForbiddenError) as err:
        KubernetesExecutor(stranger, run_id="x").apply(manifest)
    line = err.value.one_line()
    assert "403" in line and "create podchaos.chaos-mesh.org" in line and "chaoslab-nobody" in line
    assert "k8s/rbac.yaml: Role chaoslab-runner in namespace chaos-testing, rule 1 grants it" in line
    with pytest.raises(ClusterForbiddenError) as err:
        KubernetesExecutor(stranger, run_id="x").plan(manifest)
    assert "list pods in namespace ml-services" in str(err.value)
    assert "Role chaoslab-runner-observer in namespace ml-services, rule 1" in err.value.one_line()
