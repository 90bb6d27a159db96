"""What a run hands back: its result, its progress while it runs, a dry run's plan, and the errors
that end a run early (each becomes a RunStatus in the record)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.report import Report
from chaos.errors import ChaosLabError
from chaos.record import RunStatus
from chaos.spec import Experiment
from runner.abort import AbortTrigger
from runner.marker import InFlight
from runner.state import EXIT_CODES


class SteadyStateRefused(ChaosLabError):
    """The baseline did not meet the hypothesis' thresholds; no chaos was injected."""

    hint = "the run record's summary.md shows the baseline; fix the service or the thresholds"


class BlastRadiusError(ChaosLabError):
    """A chaos step would touch more pods than the experiment's scope allows."""

    hint = "lower the manifest's mode/value or raise scope.blastRadius"


class RunAborted(ChaosLabError):
    """An abort condition held long enough; the chaos was rolled back."""

    def __init__(self, trigger: AbortTrigger) -> None:
        self.trigger = trigger
        super().__init__(trigger.describe())


@dataclass(frozen=True)
class Progress:
    phase: str
    elapsed: float
    total: float
    live: dict[str, float | None]
    ready: int | None
    desired: int | None
    injected: tuple[str, ...]


@dataclass(frozen=True)
class RunResult:
    status: RunStatus
    record_dir: Path
    reason: str
    rollback_done: bool
    passed: int
    criteria: int
    report: Report | None = None
    """The run's score card and report files (None if they could not be written)."""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


@dataclass(frozen=True)
class PlannedStep:
    at: float
    manifest: str
    source: str
    targets: tuple[str, ...]
    ends: float | None


@dataclass(frozen=True)
class DryRun:
    experiment: Experiment
    steps: tuple[PlannedStep, ...]
    load: dict[str, Any]
    warnings: tuple[str, ...]
    leftovers: InFlight | None

    def lines(self) -> list[str]:
        e = self.experiment
        out = [f"dry run of {e.name} ({e.source}): nothing is touched"]
        if self.leftovers is not None:
            pending = ", ".join(c.key for c in self.leftovers.pending) or "nothing pending"
            out.append(f"a crashed run left a marker ({self.leftovers.record_dir}): would recover {pending}")
        c = e.system.calibration
        calibrated = (
            f" (calibrated on {c.run or 'a run'}, {len(c.parameter_sets)} parameter sets)" if c else ""
        )
        out.append(f"system profile: {e.system.source}{calibrated}")
        out.append(
            f"load: {e.load.rps:g} rps from {e.load.users} users ({e.load.arrival}); phases "
            + ", ".join(f"{name} {end - start:g} s" for name, (start, end) in e.phases.bounds().items())
        )
        for s in self.steps:
            end = "at the end of the chaos phase" if s.ends is None else f"at {s.ends:g} s"
            out.append(f"at {s.at:g} s: {s.manifest} ({s.source}) on {', '.join(s.targets)}; recovered {end}")
        out.extend(f"warning: {w}" for w in self.warnings)
        return out
