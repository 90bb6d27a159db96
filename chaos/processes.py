"""Processes the testbed starts: spawning them detached, recognising them later, stopping them.

A process is recorded by PID *and* start time (from /proc), so a later `down` never signals an
unrelated process that reused the PID. Every process runs in its own session (process group), so
one signal reaches its children too and a Ctrl-C in the terminal reaches only the CLI.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STOP_GRACE = 5.0
"""Seconds a process gets between SIGTERM and SIGKILL."""
POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class ProcessRecord:
    """Enough to find a process again and to be sure it is the same one."""

    name: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
            argv=tuple(str(a) for a in data.get("argv", ())),
        )


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[0]


def is_alive(record: ProcessRecord) -> bool:
    """Whether the recorded process still runs (a zombie counts as gone)."""
    state = _state(record.pid)
    if state is None or state in ("Z", "X"):
        return False
    return start_ticks(record.pid) == record.start_ticks


def record_of(name: str, pid: int, argv: Sequence[str] = ()) -> ProcessRecord:
    ticks = start_ticks(pid)
    if ticks is None:
        raise ProcessLookupError(f"process {name} (pid {pid}) is gone")
    return ProcessRecord(name, pid, ticks, tuple(argv))


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session with stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    log.debug("started %s pid %d: %s", name, process.pid, " ".join(argv))
    return process


def signal_group(record: ProcessRecord, sig: signal.Signals) -> None:
    """Send `sig` to the process's group (its session), if it is still the recorded process."""
    if not is_alive(record):
        return
    try:
        os.killpg(record.pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, sig)


def stop(
    record: ProcessRecord,
    grace: float = STOP_GRACE,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL; True when the process is gone."""
    if not is_alive(record):
        return True
    signal_group(record, signal.SIGTERM)
    if wait_gone(record, grace, clock, sleep):
        return True
    log.warning("%s (pid %d) ignored SIGTERM for %g s; killing it", record.name, record.pid, grace)
    signal_group(record, signal.SIGKILL)
    return wait_gone(record, grace, clock, sleep)


def wait_gone(
    record: ProcessRecord,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    deadline = clock() + timeout
    while is_alive(record):
        if clock() >= deadline:
            return False
        _reap(record.pid)
        sleep(POLL_INTERVAL)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when `pid` is our own child (so it does not linger as a zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
