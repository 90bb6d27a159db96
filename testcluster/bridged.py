"""A testbed bridged into the test cluster: one bring-up for the tests and the benchmarks.

`bridged_testbed` starts the testbed (its service processes, HAProxy, Redis, Prometheus), a test
cluster with Chaos Mesh, a kwok node for the testbed, the service's Deployment on it
(k8s/deployment.yaml with the custom-status annotation) and the bridge (testcluster.bridge), waits
until every pod is Ready through the API, and hands over what a run on the `kubernetes` backend
needs. On the way out, whatever happened, it stops the bridge, the cluster and the testbed, in that
order (the bridge reads both; the cluster's Chaos Mesh may still be acting on the pods).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kubernetes import config
from kubernetes.client import ApiClient

from testbed import lifecycle
from testbed.client import TestbedClient
from testbed.rundir import RULES_FILE, RunDir
from testcluster.bridge import Bridge
from testcluster.cluster import TestCluster, deploy_service, ready_pods

NAMESPACE = "ml-services"
SELECTOR = "app=ml-prediction-service"
NODE = "testbed"
READY_TIMEOUT = 120.0
"""Seconds the bridged pods get to become Ready (they start as the testbed's pods do)."""


@dataclass
class BridgedTestbed:
    """What a `kubernetes`-backend run against the bridged testbed needs."""

    testbed: TestbedClient
    cluster: TestCluster
    api: ApiClient
    bridge: Bridge

    @property
    def rules(self) -> Path:
        """The alert rules the testbed's Prometheus evaluates (the run scores its alerts by them)."""
        return self.testbed.run_dir.file(RULES_FILE)


@contextlib.contextmanager
def bridged_testbed(
    folder: Path, options: lifecycle.UpOptions, replicas: int, timeout: float = READY_TIMEOUT
) -> Iterator[BridgedTestbed]:
    """The testbed (run dir `folder/testbed`) as the cluster's (`folder/cluster`) node, `replicas`
    pods Ready; raises TimeoutError naming the count when they are not within `timeout` seconds."""
    run_dir = RunDir(folder / "testbed")
    lifecycle.start(run_dir, options)
    cluster: TestCluster | None = None
    bridge: Bridge | None = None
    try:
        cluster = TestCluster.start(folder / "cluster")
        cluster.add_node(NODE)
        deploy_service(cluster, replicas, bridged=True)
        api = config.new_client_from_config(str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
        with TestbedClient(run_dir) as testbed:
            bridge = Bridge(api, testbed, NAMESPACE, SELECTOR).start()
            deadline = time.monotonic() + timeout
            while (ready := len(ready_pods(api, NAMESPACE, SELECTOR))) < replicas:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"bridged pods: {ready}/{replicas} Ready after {timeout:g} s")
                time.sleep(0.5)
            yield BridgedTestbed(testbed, cluster, api, bridge)
    finally:
        if bridge is not None:
            bridge.stop()
        if cluster is not None:
            cluster.stop()
        lifecycle.stop(run_dir)
