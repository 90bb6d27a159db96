"""The running testbed as the local executor's cluster: its pods, its feature store, its fault proxy."""

from __future__ import annotations

import random
from pathlib import Path

from chaos.local_executor import Clock, LocalExecutor, NetworkFaultSpec, PodRef
from testbed.client import TestbedClient
from testbed.faults import Delay, Loss, NetworkFault
from testbed.rundir import RunDir


class TestbedCluster:
    """Implements chaos.local_executor.Cluster over a TestbedClient."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, client: TestbedClient) -> None:
        self.client = client
        profile = client.plan.profile()
        self.container = profile.service.name
        self.feature_store = PodRef(
            f"{profile.feature_store.name}-0", profile.service.namespace, dict(profile.feature_store.labels)
        )

    def pods(self) -> list[PodRef]:
        return [PodRef(p["name"], p["namespace"], dict(p["labels"])) for p in self.client.pods()]

    def delete_pod(self, name: str, grace: float) -> None:
        self.client.delete_pod(name, grace)

    def inject_pod_failure(self, name: str) -> None:
        self.client.inject_pod_failure(name)

    def recover_pod_failure(self, name: str) -> None:
        self.client.recover_pod_failure(name)

    def kill_container(self, name: str, container: str) -> None:
        self.client.kill_container(name, container)

    def set_network_fault(self, fault: NetworkFaultSpec) -> None:
        self.client.set_fault(
            NetworkFault(
                name=fault.name,
                direction=fault.direction,
                delay=Delay(fault.latency, fault.jitter, fault.delay_correlation)
                if fault.latency is not None
                else None,
                loss=Loss(fault.loss, fault.loss_correlation) if fault.loss is not None else None,
                partition=fault.partition,
            )
        )

    def clear_network_fault(self, name: str) -> None:
        self.client.clear_fault(name)


def local_executor(
    run_dir: RunDir | Path | None = None, clock: Clock | None = None, seed: int | None = None
) -> LocalExecutor:
    """A LocalExecutor acting on the testbed that runs from `run_dir` (default: runs/testbed)."""
    return LocalExecutor(TestbedCluster(TestbedClient(run_dir)), clock, random.Random(seed))
