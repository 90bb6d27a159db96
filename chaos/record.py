"""The run record's vocabulary: its files, the statuses a run ends in, the kinds of its events.

A run record is one directory per run (layout in docs/runner.md). The runner writes it
(runner.record) and the analysis reads it (analysis.record); both take the names from here, so a
record written by one version of the runner is read by the analysis under the same names.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from chaos.errors import ChaosLabError

RUN = "run.json"
"""What ran: experiment, status, origin and end, phases, chaos, options, warnings, problems."""
EVENTS = "events.jsonl"
"""One JSON object per line: {"time": unix seconds, "kind": an EventKind, ...detail}."""
PODS = "pods.csv"
"""Ready and desired pods, one sample per second: time,ready,desired."""
SIGNALS = "signals.json"
"""What the runner asked Prometheus about the run as a whole: alerts firing, breakers opening."""
PREDICTION = "prediction.json"
OBSERVED = "observed.json"
VERDICT = "verdict.json"
SUMMARY = "summary.md"
SPEC_DIR = "spec"
LOAD_DIR = "load"
PROMETHEUS_DIR = "prometheus"


class RunStatus(StrEnum):
    """How a run ended."""

    PASSED = "passed"
    """The run completed and every success criterion held."""
    FAILED = "failed"
    """The run completed and a success criterion failed."""
    ABORTED = "aborted"
    """An abort condition held long enough; the chaos was rolled back early."""
    REFUSED = "refused"
    """The baseline did not reach steady state; no chaos was injected."""
    INTERRUPTED = "interrupted"
    """SIGINT or SIGTERM ended the run; the chaos was rolled back."""
    ERROR = "error"
    """Something went wrong (load, executor, Prometheus, the record); the chaos was rolled back."""

    @property
    def completed(self) -> bool:
        """The run went through all its phases, so its verdict decides passed or failed."""
        return self in (RunStatus.PASSED, RunStatus.FAILED)


class EventKind(StrEnum):
    """What an event of the run's timeline says happened."""

    CLEANUP = "cleanup"
    """Chaos a crashed run had left was recovered (detail: report)."""
    WARNING = "warning"
    """A prerequisite that does not stop the run is missing (detail: message)."""
    LOAD_STARTED = "load-started"
    """The load's first phase began: the run's origin (detail: at)."""
    PHASE = "phase"
    """A load phase began, or `end` (detail: phase)."""
    STEADY_STATE = "steady-state"
    """The baseline was checked against the hypothesis (detail: holds, values, failures, requests)."""
    INJECT = "inject"
    """A chaos step was applied (detail: chaos, action, resource, targets, at)."""
    RECOVER = "recover"
    """The runner recovered a chaos object (detail: chaos, reason)."""
    RECOVERED = "recovered"
    """A chaos object ended by itself, its duration elapsed (detail: chaos, reason)."""
    ABORT = "abort"
    """An abort condition held (detail: condition, detail)."""
    ROLLBACK = "rollback"
    """Rollback ran (detail: recovered, errors, done)."""
    POD_CREATED = "pod-created"
    POD_DELETED = "pod-deleted"
    POD_READY = "pod-ready"
    POD_NOT_READY = "pod-not-ready"
    LOAD_STOPPED = "load-stopped"
    ALERT_FIRING = "alert-firing"
    """From Prometheus' ALERTS series at the end of the run (detail: alert, labels)."""
    ALERT_RESOLVED = "alert-resolved"
    BREAKER_OPEN = "breaker-open"
    """A pod's circuit breaker left closed, from its breaker-state gauge (detail: pod)."""
    BREAKER_CLOSED = "breaker-closed"
    ALERT_NOTICED = "alert-noticed"
    """The on-call saw an alert firing, live during the run (detail: alert, after: s since the fault)."""
    MITIGATE = "mitigate"
    """The on-call mitigated: the runner rolled the chaos back early (detail: reason, by, after)."""
    RUN_END = "run-end"
    """The run ended (detail: status, reason, rollback_done)."""


@dataclass(frozen=True)
class Event:
    """One line of events.jsonl. `kind` is an EventKind; a record from another version may hold
    kinds this one does not know, which are kept as plain strings."""

    time: float
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clash = {"time", "kind"} & self.detail.keys()
        if clash:
            raise ValueError(f"detail={sorted(clash)} would overwrite the event's own fields")

    def to_json(self) -> dict[str, Any]:
        return {"time": round(self.time, 3), "kind": str(self.kind), **self.detail}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        rest = {k: v for k, v in data.items() if k not in ("time", "kind")}
        kind = str(data["kind"])
        known = kind in EventKind._value2member_map_
        return cls(float(data["time"]), EventKind(kind) if known else kind, rest)


@dataclass(frozen=True)
class ReadySample:
    """Ready pods counted at one moment (unix seconds): one row of pods.csv."""

    time: float
    ready: int
    desired: int


def finite(data: Any) -> Any:
    """`data` with every NaN or infinity replaced by None (JSON has no such numbers)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [finite(v) for v in data]
    return data


class RunRecordError(ChaosLabError):
    """The run record cannot be written."""

    hint = "check that the runs folder (--runs) is writable and has space"


def write_text(path: Path, text: str) -> Path:
    """Write a file of the record whole or not at all (a temporary file, then a rename)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise RunRecordError(f"{path}: cannot be written ({exc.strerror})") from exc
    return path


def write_json(path: Path, data: Any) -> Path:
    return write_text(path, json.dumps(finite(data), indent=2, allow_nan=False) + "\n")
