"""The runner's seams: clock, chaos executor, load, predictor, the system view, and their bundle.

Each is a small interface that the real thing already has (runner.executors.base's Executor, Clock
and SystemView, runner.load_driver.LoadRun) so that the runner's tests use small fakes of our own
interfaces.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from chaos.spec import Experiment
from load import Record
from runner.executors.base import Clock, Executor, SystemView
from runner.marker import Marker
from runner.prometheus import PrometheusReader
from sim.forecast_summary import ForecastSummary


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
Predictor = Callable[[Experiment], ForecastSummary]
"""The prediction a run records (sim.forecast.ForecastSummary, written as prediction.json)."""


@dataclass
class Seams:
    clock: Clock
    executor: Executor
    start_load: LoadStarter
    prometheus: PrometheusReader
    testbed: SystemView
    predictor: Predictor | None = None
    marker: Marker | None = None

    def the_marker(self) -> Marker:
        return self.marker or Marker.of_testbed(self.testbed.location)
