"""The crash marker: which chaos a run has in flight on a testbed, kept on disk while it is there.

The runner writes the marker into the testbed's run directory before it injects anything, updates
it around every injection and recovery, and removes it once its rollback has recovered everything.
A marker left behind means a run died without rolling back (SIGKILL, power loss, a failing
rollback); `chaoslab cleanup` and the next `chaoslab run` read it and recover what it lists.
The marker names the process that wrote it (PID and start time), so a marker of a run that is still
going is never mistaken for a leftover.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from chaos import processes
from chaos.errors import ChaosLabError
from chaos.processes import ProcessRecord

MARKER_NAME = "chaos-in-flight.json"


class ChaosState(StrEnum):
    """How far one chaos object of a run got, as the crash marker keeps it."""

    INJECTING = "injecting"
    """About to be applied: it may or may not have reached the system."""
    INJECTED = "injected"
    """Applied; its targets are known."""
    RECOVERED = "recovered"
    """Recovered, or one-shot and over: nothing of it is left to undo."""


class MarkerError(ChaosLabError):
    """The crash marker cannot be read or written."""

    hint = (
        "inspect the file; if no run is going, `chaoslab cleanup --all` recovers every fault on the testbed"
    )


class RunInProgressError(ChaosLabError):
    """Another run has chaos in flight on this testbed."""

    hint = "wait for it to end (or stop it with Ctrl-C, which rolls it back)"


@dataclass(frozen=True)
class InjectedChaos:
    """One chaos object of a run: what it is, what it touched, how far it got."""

    kind: str
    action: str
    namespace: str
    name: str
    source: str
    state: ChaosState = ChaosState.INJECTING
    targets: tuple[str, ...] = ()
    faults: tuple[str, ...] = ()
    """Names of the network faults it put on the fault proxy."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["targets"], data["faults"] = list(self.targets), list(self.faults)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InjectedChaos:
        return cls(
            kind=str(data["kind"]),
            action=str(data["action"]),
            namespace=str(data["namespace"]),
            name=str(data["name"]),
            source=str(data.get("source", "")),
            state=ChaosState(data.get("state", ChaosState.INJECTING)),
            targets=tuple(str(t) for t in data.get("targets", ())),
            faults=tuple(str(f) for f in data.get("faults", ())),
        )


@dataclass(frozen=True)
class InFlight:
    owner: ProcessRecord
    record_dir: str
    testbed: str
    started: float
    chaos: tuple[InjectedChaos, ...] = field(default_factory=tuple)
    load: ProcessRecord | None = None
    """The load's process (group leader), when it runs on this machine."""

    def with_chaos(self, entry: InjectedChaos) -> InFlight:
        """The marker with `entry` added, or replacing the entry of the same key."""
        others = tuple(c for c in self.chaos if c.key != entry.key)
        return replace(self, chaos=(*others, entry))

    @property
    def pending(self) -> tuple[InjectedChaos, ...]:
        return tuple(c for c in self.chaos if c.state != ChaosState.RECOVERED)

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner.to_json(),
            "record_dir": self.record_dir,
            "testbed": self.testbed,
            "started": self.started,
            "chaos": [c.to_json() for c in self.chaos],
            "load": self.load.to_json() if self.load else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InFlight:
        return cls(
            owner=ProcessRecord.from_json(data["owner"]),
            record_dir=str(data["record_dir"]),
            testbed=str(data["testbed"]),
            started=float(data["started"]),
            chaos=tuple(InjectedChaos.from_json(c) for c in data.get("chaos", [])),
            load=ProcessRecord.from_json(data["load"]) if data.get("load") else None,
        )


def this_process() -> ProcessRecord:
    return processes.record_of("chaoslab-run", os.getpid(), sys.argv)


def owner_alive(inflight: InFlight) -> bool:
    """Whether the run that wrote the marker is still going (and is not this process)."""
    owner = inflight.owner
    return owner.pid != os.getpid() and processes.is_alive(owner)


class Marker:
    """The marker file of one testbed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of_testbed(cls, location: str | Path) -> Marker:
        return cls(Path(location) / MARKER_NAME)

    def read(self) -> InFlight | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MarkerError(f"{self.path}: cannot be read ({exc.strerror})") from exc
        try:
            return InFlight.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise MarkerError(f"{self.path}: is not a crash marker ({exc})") from exc

    def write(self, inflight: InFlight) -> None:
        """Write atomically: a reader never sees half a marker."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(inflight.to_json(), indent=2), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            raise MarkerError(f"{self.path}: cannot be written ({exc.strerror})") from exc

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
