"""The dashboard's chaos-window annotation reads a metric Chaos Mesh's controller really exports."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from kubernetes.client import ApiClient

from runner.executors.kubernetes import KubernetesExecutor
from testcluster.cluster import TestCluster
from tests.cluster.conftest import wait_until
from tests.cluster.manifests import seed
from tests.k8s.test_dashboard import CHAOS_MESH

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def test_chaos_mesh_exports_the_experiments_metric_the_dashboard_annotates(
    cluster: TestCluster, admin: ApiClient, tmp_path: Path
) -> None:
    executor = KubernetesExecutor(admin, run_id="run-metrics")
    manifest = seed("pod-failure", tmp_path, value="25")
    executor.apply(manifest)
    try:
        url = f"http://127.0.0.1:{cluster.chaos_metrics_port}/metrics"

        def exported() -> bool:
            text = httpx.get(url, timeout=5).text
            return all(
                f'{name}{{kind="PodChaos",namespace="chaos-testing",phase="running"}}' in text
                for name in CHAOS_MESH
            )

        try:
            wait_until(exported, 30, "the metric")
        except AssertionError:
            lines = [x for x in httpx.get(url, timeout=5).text.splitlines() if "chaos_experiments" in x]
            raise AssertionError(
                f"{sorted(CHAOS_MESH)} with a Running PodChaos not at {url}: {lines}"
            ) from None
    finally:
        executor.recover(manifest.namespace, manifest.name)
