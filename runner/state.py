"""What a run knows while it runs: its outcome so far, what it injected, what it observed.

The runner fills a RunState; runner.finish turns it into the run record. Statuses and their
exit codes: passed 0, failed 3 (the run completed; a success criterion failed), aborted, refused and
error 1, interrupted 130.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chaos.record import Event, ReadySample, RunStatus
from chaos.recovery import SAMPLE_PERIOD
from chaos.spec import ChaosStep
from load import Record
from runner.abort import AbortTrigger
from runner.cleanup import CleanupReport
from runner.executors.base import ChaosStatus
from runner.marker import InFlight, InjectedChaos
from runner.mitigation import Mitigation
from runner.record import RunRecord
from runner.seams import LoadHandle
from runner.steady_state import SteadyState
from sim.forecast_summary import ForecastSummary

TICK = SAMPLE_PERIOD
"""Seconds between two observations (pods, records, abort conditions, progress): the period the
simulator's recovery times assume (chaos.recovery)."""
LOAD_START_TIMEOUT = 60.0
LOAD_END_GRACE = 30.0

EXIT_CODES = {
    RunStatus.PASSED: 0,
    RunStatus.FAILED: 3,
    RunStatus.ABORTED: 1,
    RunStatus.REFUSED: 1,
    RunStatus.ERROR: 1,
    RunStatus.INTERRUPTED: 130,
}


@dataclass(frozen=True)
class RunOptions:
    runs_root: Path = Path("runs")
    seed: int = 0
    tick: float = TICK
    load_start_timeout: float = LOAD_START_TIMEOUT
    load_end_grace: float = LOAD_END_GRACE
    mitigation: Mitigation | None = None
    """The on-call's early rollback (GameDays); None: chaos lasts its phase."""


@dataclass
class Injected:
    step: ChaosStep
    status: ChaosStatus
    at: float
    entry: InjectedChaos
    ended: float | None = None


@dataclass
class RunState:
    """What a run knows so far; the record is written from it."""

    mitigated: bool = field(default=False, init=False)

    record: RunRecord
    forecast: ForecastSummary | None
    warnings: list[str]
    leftovers: CleanupReport | None
    settle: float
    marker: InFlight | None = None
    load: LoadHandle | None = None
    origin: float | None = None
    end: float | None = None
    status: RunStatus | None = None
    reason: str = ""
    abort: AbortTrigger | None = None
    steady: SteadyState | None = None
    released: list[Record] = field(default_factory=list)
    samples: list[ReadySample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    injected: dict[str, Injected] = field(default_factory=dict)
    rolled_back: bool = False
    rollback_done: bool = False
    rollback_errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    pods: dict[str, bool] = field(default_factory=dict)

    @property
    def fault_start(self) -> float | None:
        return min((i.at for i in self.injected.values()), default=None)

    @property
    def fault_end(self) -> float | None:
        ends = [i.ended for i in self.injected.values()]
        return None if not ends or None in ends else max(e for e in ends if e is not None)
