"""`chaoslab doctor --backend kubernetes` against the real control plane, and the 404 a cluster
without Chaos Mesh gives the executor."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from runner.executors.cluster_errors import ChaosMeshMissingError
from runner.executors.kubernetes import KubernetesExecutor
from testcluster.cluster import TestCluster, running
from tests.cluster.conftest import ROOT, deploy_service
from tests.cluster.manifests import seed
from tests.cluster.test_rbac import _token_client

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]
SPEC = ROOT / "experiments" / "pod-failure.experiment.yaml"


def _doctor(kubeconfig: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["doctor", str(SPEC), "--kubeconfig", str(kubeconfig)])
    return result.exit_code, result.output


def test_doctor_passes_what_holds_and_names_the_blast_radius_it_breaks(
    cluster: TestCluster, admin: object
) -> None:
    code, output = _doctor(cluster.kubeconfig)
    assert "ok   API server: " in output and "Kubernetes v1.36.3" in output
    assert "ok   Chaos Mesh CRDs: chaos-mesh.org/v1alpha1 serves" in output
    assert "ok   dry run of PodChaos chaos-testing/ml-service-pod-failure: accepted" in output
    assert "ok   RBAC: " in output
    assert "ok   target pods: 4 pods match app=ml-prediction-service in ml-services" in output
    # the seed experiment fails 30 % of 10 pods; on this cluster's 4 that is 2, above its limit
    assert "FAIL blast radius of ml-service-pod-failure: fixed-percent 30 hits 2 of 4 pods" in output
    assert code == 1


def test_doctor_names_every_access_the_identity_lacks(cluster: TestCluster, admin: object) -> None:
    stranger = _token_client(cluster, admin, "chaoslab-doctor-stranger")  # type: ignore[arg-type]
    assert stranger.configuration.host == cluster.server
    path = cluster.folder / "chaoslab-doctor-stranger.kubeconfig"  # written by _token_client
    code, output = _doctor(path)
    assert code == 1
    assert "FAIL RBAC: may not create podchaos.chaos-mesh.org in namespace chaos-testing" in output
    assert "k8s/rbac.yaml: Role chaoslab-runner in namespace chaos-testing, rule 1 grants it" in output
    assert "FAIL RBAC: may not list pods in namespace ml-services" in output


def test_a_cluster_without_chaos_mesh(tmp_path: Path) -> None:
    with running(tmp_path / "bare", chaos_mesh=False) as bare:
        bare.add_node("kwok-node-0")
        deploy_service(bare, replicas=4)
        code, output = _doctor(bare.kubeconfig)
        assert code == 1
        assert "FAIL Chaos Mesh CRDs: the cluster serves no chaos-mesh.org/v1alpha1" in output
        assert "install.sh" in output and "port-forward svc/chaos-dashboard" in output
        from kubernetes import config

        api = config.new_client_from_config(str(bare.kubeconfig))
        with pytest.raises(ChaosMeshMissingError) as err:
            KubernetesExecutor(api, run_id="x").apply(seed("pod-failure", tmp_path))
        assert "404" in str(err.value) and "CRDs are not installed" in str(err.value)


def test_doctor_checks_a_rollout_experiments_access_to_patch_the_deployment(
    cluster: TestCluster, admin: object
) -> None:
    spec = ROOT / "experiments" / "bad-model.experiment.yaml"
    stranger = cluster.folder / "chaoslab-doctor-stranger.kubeconfig"
    if not stranger.exists():
        _token_client(cluster, admin, "chaoslab-doctor-stranger")  # type: ignore[arg-type]
    result = CliRunner().invoke(app, ["doctor", str(spec), "--kubeconfig", str(stranger)])
    assert result.exit_code == 1
    assert "FAIL RBAC: may not patch deployments.apps in namespace ml-services" in result.output
    assert "Role chaoslab-runner-observer in namespace ml-services, rule 3 grants it" in result.output
    result = CliRunner().invoke(app, ["doctor", str(spec), "--kubeconfig", str(cluster.kubeconfig)])
    assert "ok   RBAC: " in result.output and "dry run of" not in result.output
