"""What the runner and `chaoslab cleanup` need from the system under test, and the testbed's answer.

`TestbedView` is the seam: its pods and their readiness, the desired replica count, the alert rules
it configured, the network faults in place, and the two undo operations cleanup needs (recover a
pod failure, clear a proxy fault). `LocalTestbed` implements it over testbed.client.TestbedClient.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from testbed.client import TestbedClient
from testbed.rundir import RunDir


@dataclass(frozen=True)
class PodState:
    name: str
    ready: bool
    failure_injected: bool = False


class TestbedView(Protocol):
    service_url: str
    prometheus_url: str
    location: str
    """Where the testbed's state lives (its run directory), for messages and the crash marker."""

    def phase(self) -> str: ...

    def pods(self) -> list[PodState]: ...

    def desired(self) -> int: ...

    def alert_names(self) -> list[str]: ...

    def faults(self) -> list[str]: ...

    def recover_pod_failure(self, name: str) -> None: ...

    def clear_fault(self, name: str) -> bool: ...


class LocalTestbed:
    """TestbedView of the embedded testbed running from a run directory."""

    __test__ = False

    def __init__(self, client: TestbedClient) -> None:
        self.client = client
        self.service_url = client.urls.service
        self.prometheus_url = client.urls.prometheus
        self.location = str(client.run_dir.path)
        self._desired = client.plan.profile().service.replicas

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
