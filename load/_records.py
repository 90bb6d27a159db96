"""The per-request record: one CSV part per load process, and a reader that merges the parts.

Every process that sends requests (a standalone Locust, each `--processes` child, each worker of a
distributed run) writes its own part, `requests-<host>-<pid>.csv`, in the record directory, and
flushes it every `flush_interval` seconds or `flush_rows` rows. Columns:

    time           unix seconds when the request started
    latency        seconds until the answer (or the error)
    outcome        ok | degraded | error
    status         HTTP status, 0 when none was received
    error_kind     empty for successes; overload, deadline, http_<status>, timeout, refused, ...
    degraded       true | false (the service answered without fresh features)
    fallback       true | false (the fallback model answered)
    feature_source store | cache | defaults | request, empty for errors
    correct        true | false | unknown (against the data set's label)
    phase          the load phase the request started in
    fallback_reason the fallback's reason from the answer (breaker_open, store_timeout, ...), empty
                   when none; parts written before this column existed have 10 columns and read as empty

The process running the load shape also writes `run.json` when the test starts: the start time and
the plan, so that readers can place phases on the clock.
"""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COLUMNS = (
    "time",
    "latency",
    "outcome",
    "status",
    "error_kind",
    "degraded",
    "fallback",
    "feature_source",
    "correct",
    "phase",
    "fallback_reason",
)
LEGACY_COLUMNS = len(COLUMNS) - 1
"""Parts written before `fallback_reason` existed: read with an empty reason."""
HEADER = ",".join(COLUMNS) + "\n"
LEGACY_HEADER = ",".join(COLUMNS[:LEGACY_COLUMNS]) + "\n"
PART_GLOB = "requests-*.csv"
RUN_MARKER = "run.json"
FLUSH_INTERVAL = 1.0
FLUSH_ROWS = 1000
_BOOL = ("false", "true")
_CORRECT = {True: "true", False: "false", None: "unknown"}
_CORRECT_BACK = {v: k for k, v in _CORRECT.items()}
_BOOL_BACK = {"true": True, "false": False}


class RecordFormatError(ValueError):
    """A record part holds a row that is not a request record; names file, line and value."""

    def __init__(self, file: Path, line: int, value: str, message: str) -> None:
        self.file, self.line, self.value = file, line, value
        super().__init__(f"{file}: line {line}: {message} (got {value!r})")


@dataclass(frozen=True, slots=True)
class Record:
    time: float
    latency: float
    outcome: str
    status: int
    error_kind: str
    degraded: bool
    fallback: bool
    feature_source: str
    correct: bool | None
    phase: str
    fallback_reason: str = ""

    def to_line(self) -> str:
        return format_line(
            self.time,
            self.latency,
            self.outcome,
            self.status,
            self.error_kind,
            self.degraded,
            self.fallback,
            self.feature_source,
            self.correct,
            self.phase,
            self.fallback_reason,
        )

    @classmethod
    def from_row(cls, row: list[str]) -> Record:
        """The record of one CSV row; raises ValueError naming the bad column."""
        if len(row) == LEGACY_COLUMNS:
            row = [*row, ""]
        if len(row) != len(COLUMNS):
            raise ValueError(f"has {len(row)} columns, expected {len(COLUMNS)}")
        t, latency, outcome, status, kind, degraded, fallback, source, correct, phase, reason = row
        try:
            return cls(
                time=float(t),
                latency=float(latency),
                outcome=outcome,
                status=int(status),
                error_kind=kind,
                degraded=_BOOL_BACK[degraded],
                fallback=_BOOL_BACK[fallback],
                feature_source=source,
                correct=_CORRECT_BACK[correct],
                phase=phase,
                fallback_reason=reason,
            )
        except KeyError as exc:
            raise ValueError(f"{exc.args[0]!r} is not true/false/unknown") from None


def format_line(
    t: float,
    latency: float,
    outcome: str,
    status: int,
    error_kind: str,
    degraded: bool,
    fallback: bool,
    feature_source: str,
    correct: bool | None,
    phase: str,
    fallback_reason: str = "",
) -> str:
    """One CSV line of a record. No field can hold a comma or a quote: each is a number, a bool or
    a word from a fixed vocabulary (phase names are lower-case words; the fallback reason is checked
    to be a word when the answer is judged), so no quoting is needed."""
    return (
        f"{t:.6f},{latency:.6f},{outcome},{status},{error_kind},{_BOOL[degraded]},{_BOOL[fallback]},"
        f"{feature_source},{_CORRECT[correct]},{phase},{fallback_reason}\n"
    )


def part_name(host: str | None = None, pid: int | None = None) -> str:
    """This process's part file name: unique per host (pod) and process."""
    raw = host if host is not None else socket.gethostname()
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", raw) or "host"
    return f"requests-{safe}-{pid if pid is not None else os.getpid()}.csv"


class RecordWriter:
    """Appends records to one part file, flushing by time or row count (the clock is injected)."""

    def __init__(
        self,
        path: Path,
        flush_interval: float = FLUSH_INTERVAL,
        flush_rows: int = FLUSH_ROWS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError(f"flush_interval={flush_interval} must be > 0")
        if flush_rows < 1:
            raise ValueError(f"flush_rows={flush_rows} must be >= 1")
        self.path = path
        self.flush_interval = flush_interval
        self.flush_rows = flush_rows
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8", newline="")
        if self._file.tell() == 0:
            self._file.write(HEADER)
            self._file.flush()
        self._lines: list[str] = []
        self._last_flush = clock()
        self.written = 0

    def write(self, record: Record) -> None:
        self.write_line(record.to_line())

    def write_line(self, line: str) -> None:
        """Append one line made by `format_line` (the recorder's fast path)."""
        self._lines.append(line)
        if len(self._lines) >= self.flush_rows or self._clock() - self._last_flush >= self.flush_interval:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as whole lines and hand them to the OS."""
        self._last_flush = self._clock()
        if not self._lines:
            return
        self._file.write("".join(self._lines))
        self._file.flush()
        self.written += len(self._lines)
        self._lines = []

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed


class RecordTail:
    """Reads what the writers of a record directory appended since the last poll.

    Only whole lines are read, so a part being written is never seen half. `poll(now)` releases the
    records that started at least `settle` seconds before `now`, in time order; later polls cannot
    release an earlier record as long as `settle` covers the flush interval plus the longest request.
    `poll()` without `now` releases everything read so far.
    """

    def __init__(self, directory: Path, settle: float = 0.0) -> None:
        self.directory = directory
        self.settle = settle
        self._offsets: dict[Path, int] = {}
        self._lines: dict[Path, int] = {}
        self._pending: list[Record] = []

    def poll(self, now: float | None = None) -> list[Record]:
        for path in sorted(self.directory.glob(PART_GLOB)):
            self._pending.extend(self._read_new(path))
        self._pending.sort(key=lambda r: r.time)
        if now is None:
            out, self._pending = self._pending, []
            return out
        cut = now - self.settle
        split = next((i for i, r in enumerate(self._pending) if r.time > cut), len(self._pending))
        out, self._pending = self._pending[:split], self._pending[split:]
        return out

    def _read_new(self, path: Path) -> list[Record]:
        offset = self._offsets.get(path, 0)
        with path.open("rb") as f:
            f.seek(offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        if end == 0:
            return []
        lines = chunk[:end].decode("utf-8").splitlines()
        done = self._lines.get(path, 0)
        rows = lines
        if done == 0:
            if lines[0] + "\n" not in (HEADER, LEGACY_HEADER):
                raise RecordFormatError(path, 1, lines[0], f"header must be {HEADER.strip()!r}")
            rows = lines[1:]
        records = _parse_lines(path, rows, done + len(lines) - len(rows) + 1)
        self._offsets[path] = offset + end
        self._lines[path] = done + len(lines)
        return records


def _parse_lines(path: Path, lines: list[str], first_line: int) -> list[Record]:
    records = []
    for index, row in enumerate(csv.reader(lines)):
        try:
            records.append(Record.from_row(row))
        except ValueError as exc:
            raise RecordFormatError(path, first_line + index, ",".join(row), str(exc)) from None
    return records


def read_records(directory: Path) -> list[Record]:
    """Every record of every part in `directory`, merged in time order."""
    return RecordTail(directory).poll()


def write_run_marker(directory: Path, started: float, plan: dict[str, Any]) -> Path:
    """Note when the load started and with which plan (written by the process running the shape)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RUN_MARKER
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"started": started, "plan": plan}, indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def read_run_marker(directory: Path) -> dict[str, Any] | None:
    """The run marker's content, or None while the load has not started."""
    path = directory / RUN_MARKER
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
