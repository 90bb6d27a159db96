"""The embedded testbed as a backend: the local executor's cluster and the runner's view of it.

`TestbedCluster` gives runner.executors.local.LocalExecutor the testbed's pods, feature store and
fault proxy; `LocalTestbed` is the runner's SystemView of it (pods and their readiness, desired
replicas, the alert rules it configured, the network faults in place, and the two undo operations
a crashed run's cleanup needs). Both speak to the testbed only through testbed.client.TestbedClient.
"""

from __future__ import annotations

import random
from pathlib import Path

from runner.executors.base import Clock, PodState
from runner.executors.local import LocalExecutor, NetworkFaultSpec, PodRef
from testbed.client import TestbedClient
from testbed.faults import Delay, Loss, NetworkFault
from testbed.rundir import RULES_FILE, RunDir


class TestbedCluster:
    """Implements runner.executors.local.Cluster over a TestbedClient."""

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

    def template_env(self) -> dict[str, str]:
        return self.client.template_env()

    def roll(self, env: dict[str, str]) -> None:
        self.client.roll(env)


def local_executor(
    run_dir: RunDir | Path | None = None, clock: Clock | None = None, seed: int | None = None
) -> LocalExecutor:
    """A LocalExecutor acting on the testbed that runs from `run_dir` (default: runs/testbed)."""
    return LocalExecutor(TestbedCluster(TestbedClient(run_dir)), clock, random.Random(seed))


class LocalTestbed:
    """SystemView of the embedded testbed running from a run directory."""

    __test__ = False

    def __init__(self, client: TestbedClient) -> None:
        self.client = client
        self.service_url = client.urls.service
        self.prometheus_url = client.urls.prometheus
        self.location = str(client.run_dir.path)
        self._desired = client.plan.profile().service.replicas
        rules = client.run_dir.file(RULES_FILE)
        self.rules_file: Path | None = rules if rules.is_file() else None
        """The alert rules its Prometheus loaded (None: it runs without rules)."""

    @classmethod
    def open(cls, run_dir: RunDir | Path | None = None) -> LocalTestbed:
        """Raises testbed.client.TestbedNotRunningError when no testbed was started there."""
        return cls(TestbedClient(run_dir))

    def close(self) -> None:
        self.client.close()

    def phase(self) -> str:
        return str(self.client.status().get("phase", "?"))

    def pods(self) -> list[PodState]:
        return [
            PodState(str(p["name"]), bool(p["ready"]), bool(p.get("failure_injected", False)))
            for p in self.client.pods()
        ]

    def desired(self) -> int:
        return self._desired

    def alert_names(self) -> list[str]:
        return [str(name) for name in self.client.status().get("rules", [])]

    def faults(self) -> list[str]:
        return [f.name for f in self.client.faults()]

    def recover_pod_failure(self, name: str) -> None:
        self.client.recover_pod_failure(name)

    def clear_fault(self, name: str) -> bool:
        return self.client.clear_fault(name)

    def template_env(self) -> dict[str, str]:
        return self.client.template_env()

    def roll_back(self) -> None:
        self.client.roll({})
