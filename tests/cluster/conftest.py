"""The test cluster (testcluster): a real control plane started once per test session.

These tests need the binaries scripts/build-control-plane.sh builds; without them they fail with
the command that builds them (CI builds them first). They are marked e2e and cluster.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client import ApiClient

from testcluster.cluster import TestCluster, available, binaries

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "ml-services"
CHAOS_NAMESPACE = "chaos-testing"


def _require_binaries() -> None:
    if not available():
        binaries()  # raises ControlPlaneMissingError naming what is missing and how to build it


def deploy_service(cluster: TestCluster, replicas: int = 4) -> None:
    """k8s/namespace.yaml and k8s/deployment.yaml, as a user deploys them, with `replicas`."""
    for doc in yaml.safe_load_all((ROOT / "k8s" / "namespace.yaml").read_text()):
        cluster.apply(doc)
    deployment = yaml.safe_load((ROOT / "k8s" / "deployment.yaml").read_text())
    deployment["spec"]["replicas"] = replicas
    deadline = time.monotonic() + 60
    while True:  # the namespace's default service account comes from the controller-manager
        try:
            cluster.apply(deployment)
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def ready_pods(api: ApiClient, namespace: str = NAMESPACE) -> list[Any]:
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="app=ml-prediction-service")
    return [
        p
        for p in pods.items
        if p.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))
    ]


def wait_until(check: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not hold within {timeout:g} s")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestCluster]:
    _require_binaries()
    started = TestCluster.start(tmp_path_factory.mktemp("cluster"))
    try:
        started.add_node("kwok-node-0")
        deploy_service(started)
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def admin(cluster: TestCluster) -> ApiClient:
    api = config.new_client_from_config(str(cluster.kubeconfig))
    wait_until(lambda: len(ready_pods(api)) == 4, what="4 ready pods")
    return api
