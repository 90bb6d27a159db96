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
from kubernetes import config
from kubernetes.client import ApiClient

from testcluster.cluster import TestCluster, available, binaries, deploy_service, ready_pods

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "ml-services"
CHAOS_NAMESPACE = "chaos-testing"


def _require_binaries() -> None:
    if not available():
        binaries()  # raises ControlPlaneMissingError naming what is missing and how to build it


__all__ = ["CHAOS_NAMESPACE", "NAMESPACE", "ROOT", "deploy_service", "ready_pods", "wait_until"]


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
        deploy_service(started, replicas=4)
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def admin(cluster: TestCluster) -> ApiClient:
    api = config.new_client_from_config(str(cluster.kubeconfig))
    wait_until(lambda: len(ready_pods(api)) == 4, what="4 ready pods")
    return api
