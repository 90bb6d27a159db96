"""What an executor is: the interface every backend implements, the status of a chaos object, the
clock, and the runner's view of the system under test.

An executor applies Chaos Mesh manifests (and rollouts of the service's Deployment, chaos.rollout)
to a system and reports their status as Chaos Mesh does:
one record per target with phase Injected / Not Injected, the conditions Selected, AllInjected,
AllRecovered and Paused, and the desired phase Run / Stop (Stop once recovered, as after deleting
the object). `runner.executors.local` applies them to the embedded testbed with the controller's
semantics; a Kubernetes executor creates the custom objects on a cluster. The runner talks to both
through `Executor` and `SystemView` only.

One `Clock` serves the whole project's waiting: unix time, sleeping and timers, so that the runner,
the executors and their tests share one fake.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from chaos.errors import ChaosLabError
from chaos.spec import Fault

ONE_SHOT_ACTIONS = ("pod-kill", "container-kill")
"""Actions that act once and leave nothing to undo: injected and ended at the same moment."""


# -- the clock --------------------------------------------------------------------------------------
class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time for code that waits: unix seconds, sleeping, and callbacks after a delay."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer: ...


class SystemClock:
    """Wall-clock time; timers run their callback on a daemon thread."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = threading.Timer(delay, callback)
        timer.daemon = True
        timer.start()
        return timer


# -- the status of a chaos object -------------------------------------------------------------------
class RecordPhase(StrEnum):
    """The phase of one target of a chaos object (Chaos Mesh `containerRecords[].phase`)."""

    INJECTED = "Injected"
    NOT_INJECTED = "Not Injected"


class DesiredPhase(StrEnum):
    """What the controller drives the object towards (`status.experiment.desiredPhase`)."""

    RUN = "Run"
    STOP = "Stop"


class Condition(StrEnum):
    """Chaos Mesh's status conditions of a chaos object."""

    SELECTED = "Selected"
    ALL_INJECTED = "AllInjected"
    ALL_RECOVERED = "AllRecovered"
    PAUSED = "Paused"


@dataclass
class Record:
    """One target of a chaos object (Chaos Mesh `containerRecords`)."""

    id: str
    phase: RecordPhase = RecordPhase.NOT_INJECTED
    injected_count: int = 0
    recovered_count: int = 0


@dataclass
class ChaosStatus:
    namespace: str
    name: str
    kind: str
    action: str
    desired_phase: DesiredPhase = DesiredPhase.RUN
    records: list[Record] = field(default_factory=list)
    created_at: float = 0.0
    duration: float | None = None
    events: list[tuple[float, str]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def active(self) -> bool:
        """Not recovered yet (desired phase Run)."""
        return self.desired_phase == DesiredPhase.RUN

    @property
    def conditions(self) -> dict[Condition, bool]:
        """Chaos Mesh's conditions for this object."""
        injected = all(r.phase == RecordPhase.INJECTED for r in self.records)
        recovered = all(r.phase == RecordPhase.NOT_INJECTED for r in self.records)
        return {
            Condition.SELECTED: bool(self.records),
            Condition.ALL_INJECTED: bool(self.records) and injected and self.active,
            Condition.ALL_RECOVERED: recovered and not self.active,
            Condition.PAUSED: False,
        }

    def to_json(self) -> dict[str, Any]:
        """The object's `status` as Chaos Mesh writes it."""
        return {
            "conditions": [{"type": str(t), "status": str(v)} for t, v in self.conditions.items()],
            "experiment": {
                "desiredPhase": str(self.desired_phase),
                "containerRecords": [
                    {
                        "id": r.id,
                        "selectorKey": ".",
                        "phase": str(r.phase),
                        "injectedCount": r.injected_count,
                        "recoveredCount": r.recovered_count,
                    }
                    for r in self.records
                ],
            },
        }


class ChaosExistsError(ChaosLabError):
    """A chaos object of that namespace/name is already active."""

    hint = "recover it first, or give the manifest another metadata.name"


class ChaosNotFoundError(ChaosLabError):
    """No chaos object of that namespace/name was applied."""


# -- the interfaces ---------------------------------------------------------------------------------
class Executor(Protocol):
    """Applies and recovers chaos objects on one system."""

    def plan(self, manifest: Fault) -> list[str]:
        """What `apply` would touch (target names), touching nothing."""
        ...

    def apply(self, manifest: Fault) -> ChaosStatus:
        """Inject now; a `duration` recovers by itself. ChaosExistsError if it is active already."""
        ...

    def recover(self, namespace: str, name: str) -> ChaosStatus:
        """End the chaos now, as deleting the object does. ChaosNotFoundError if never applied."""
        ...

    def statuses(self) -> list[ChaosStatus]:
        """Every chaos object this executor applied, active or not."""
        ...


@dataclass(frozen=True)
class PodState:
    name: str
    ready: bool
    failure_injected: bool = False


class SystemView(Protocol):
    """What the runner and `chaoslab cleanup` read of the system under test, and the undo operations
    a crashed run's cleanup needs (recover a pod failure, clear a network fault, roll back)."""

    service_url: str
    prometheus_url: str
    location: str
    """Where the system's state lives (the testbed's run directory), for messages and the marker."""

    def phase(self) -> str: ...

    def pods(self) -> list[PodState]: ...

    def desired(self) -> int: ...

    def alert_names(self) -> list[str]: ...

    def faults(self) -> list[str]: ...

    def recover_pod_failure(self, name: str) -> None: ...

    def clear_fault(self, name: str) -> bool: ...

    def template_env(self) -> dict[str, str]:
        """The container environment a rollout put on the service's pod template ({}: the original)."""
        ...

    def roll_back(self) -> None:
        """Roll the service's Deployment back to its original pod template."""
        ...


__all__ = [
    "ONE_SHOT_ACTIONS",
    "ChaosExistsError",
    "ChaosNotFoundError",
    "ChaosStatus",
    "Clock",
    "Condition",
    "DesiredPhase",
    "Executor",
    "PodState",
    "Record",
    "RecordPhase",
    "SystemClock",
    "SystemView",
    "Timer",
]
