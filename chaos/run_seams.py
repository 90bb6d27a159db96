"""The runner's seams: clock, chaos executor, load, predictor, and the bundle of them.

Each is a small interface that the real thing already has (chaos.local_executor.LocalExecutor,
chaos.load_driver.LoadRun, time) so that the runner's tests use small fakes of our own interfaces.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from chaos.load_driver import Record
from chaos.local_executor import ChaosStatus
from chaos.manifest import ChaosManifest
from chaos.marker import Marker
from chaos.prometheus_reader import PrometheusReader
from chaos.spec import Experiment
from chaos.testbed_view import TestbedView


class Clock(Protocol):
    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Executor(Protocol):
    def plan(self, manifest: ChaosManifest) -> list[str]: ...

    def apply(self, manifest: ChaosManifest) -> ChaosStatus: ...

    def recover(self, namespace: str, name: str) -> ChaosStatus: ...

    def statuses(self) -> list[ChaosStatus]: ...


class LoadHandle(Protocol):
    @property
    def running(self) -> bool: ...

    def wait_started(self, timeout: float) -> float: ...

    def tail(self) -> list[Record]: ...

    def wait(self, timeout: float) -> int: ...

    def stop(self) -> list[Record]: ...

    def records(self) -> list[Record]: ...


@runtime_checkable
class HasProcess(Protocol):
    """A load run by a local process group (LoadRun): a crashed run's cleanup can stop it."""

    process: subprocess.Popen[bytes]


LoadStarter = Callable[[Path, Experiment, float], LoadHandle]
"""Start the experiment's load recording into a folder; the float is the settle time of tail()."""
Predictor = Callable[[Experiment], dict[str, Any]]


@dataclass
class Seams:
    clock: Clock
    executor: Executor
    start_load: LoadStarter
    prometheus: PrometheusReader
    testbed: TestbedView
    predictor: Predictor | None = None
    marker: Marker | None = None

    def the_marker(self) -> Marker:
        return self.marker or Marker.of_testbed(self.testbed.location)
