"""Starting and stopping an experiment's load, and reading its request stream while it runs.

The runner starts Locust headless as a subprocess (`python -m locust -f load/`) in a process group
of its own, with the experiment's plan passed as CHAOSLAB_* variables, and reads the per-request
records the load processes write into the record directory:

    with LoadRun.start("http://127.0.0.1:8080", run_dir / "load", experiment) as load:
        started = load.wait_started(timeout=30)
        while load.running:
            check_abort_conditions(load.tail())   # new records since the last call
    # leaving the block stops Locust (SIGTERM, then SIGKILL to the whole group) and flushes the parts

The record directory then holds the record parts (`requests-*.csv`), `run.json` (start time and
plan), Locust's own statistics (final: `locust.json`; over time: `locust_stats_history.csv`, ...)
and its log (`locust.log`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from chaos.errors import ChaosLabError, InvalidSpecError, Problem
from chaos.spec import Experiment
from load import (
    FLUSH_INTERVAL,
    LOCUSTFILES,
    PART_GLOB,
    LoadPlan,
    PlanError,
    Record,
    RecordTail,
    plan_of_experiment,
    read_records,
    read_run_marker,
)

log = logging.getLogger(__name__)

STOP_GRACE = 15.0  # seconds Locust gets to stop its users, write its statistics and flush the records
LOG_NAME = "locust.log"
STATS_PREFIX = "locust"
_ENV_PREFIX = "CHAOSLAB_"
_LOG_TAIL_LINES = 15


class LoadError(ChaosLabError):
    """The load generator could not start, or it ended with an error."""

    hint = f"see {LOG_NAME} in the record directory"


def plan_for(source: Experiment | LoadPlan) -> LoadPlan:
    """The load plan of an experiment (its phases and load) or the plan itself."""
    if isinstance(source, Experiment):
        try:
            return plan_of_experiment(source)
        except PlanError as exc:
            raise InvalidSpecError(
                [Problem(str(source.source), exc.setting, exc.value, exc.message)]
            ) from exc
    return source


def locust_command(
    host: str, record_dir: Path, processes: int = 0, python: str = sys.executable
) -> list[str]:
    """The Locust command line of a headless run against `host` recording into `record_dir`."""
    if processes < 0:
        raise ValueError(f"processes={processes} must be >= 0")
    command = [
        python,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILES),
        "--headless",
        "--host",
        host,
        "--csv",
        str(record_dir / STATS_PREFIX),  # statistics over time
        "--json-file",
        str(record_dir / STATS_PREFIX),  # final statistics, written at the very end
        "--only-summary",
        "--exit-code-on-error",
        "0",  # failed requests are data here, not a failed run
    ]
    return command + (["--processes", str(processes)] if processes else [])


def locust_environment(
    plan: LoadPlan, record_dir: Path, seed: int | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The subprocess environment: `base` without any CHAOSLAB_* setting, then the plan's."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith(_ENV_PREFIX)}
    env.update(plan.to_env())
    env["CHAOSLAB_RECORD_DIR"] = str(record_dir)
    if seed is not None:
        env["CHAOSLAB_SEED"] = str(seed)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class LoadRun:
    """One running load: a Locust process group and the records it writes."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        record_dir: Path,
        plan: LoadPlan,
        settle: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.process = process
        self.record_dir = record_dir
        self.plan = plan
        self.clock = clock
        self._tail = RecordTail(record_dir, settle=settle)

    @classmethod
    def start(
        cls,
        host: str,
        record_dir: Path,
        source: Experiment | LoadPlan,
        *,
        processes: int = 0,
        seed: int | None = None,
        settle: float | None = None,
        clock: Callable[[], float] = time.time,
        python: str = sys.executable,
    ) -> LoadRun:
        """Start Locust against `host` (run by `python`, which must have Locust and scikit-learn).

        `settle` is how long records wait in `tail()`; the default (the client timeout plus two
        flush intervals) makes `tail()` yield them in time order."""
        plan = plan_for(source)
        record_dir = record_dir.resolve()
        record_dir.mkdir(parents=True, exist_ok=True)
        if any(record_dir.glob(PART_GLOB)):
            raise LoadError(
                f"{record_dir} already holds request records; give each load run its own directory"
            )
        command = locust_command(host, record_dir, processes, python)
        env = locust_environment(plan, record_dir, seed)
        with (record_dir / LOG_NAME).open("ab") as log_file:
            process = subprocess.Popen(
                command,
                cwd=record_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends every Locust process
            )
        log.info("load started (pid %d): %s against %s", process.pid, plan.describe()["phases"], host)
        wait = settle if settle is not None else plan.timeout + 2 * FLUSH_INTERVAL
        return cls(process, record_dir, plan, wait, clock)

    # -- state ----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def started_at(self) -> float | None:
        """Unix time the load's first phase began, once Locust has started the test."""
        marker = read_run_marker(self.record_dir)
        return None if marker is None else float(marker["started"])

    def wait_started(
        self, timeout: float, poll: float = 0.1, sleep: Callable[[float], None] = time.sleep
    ) -> float:
        """Poll until the test has started; its start time. Raises LoadError if Locust ends first."""
        deadline = self.clock() + timeout
        while True:
            started = self.started_at()
            if started is not None:
                return started
            self._raise_if_failed(also_when_done=True)
            if self.clock() >= deadline:
                raise LoadError(f"Locust did not start the test within {timeout:g} s{self._log_tail()}")
            sleep(poll)

    # -- records --------------------------------------------------------------------------------
    def tail(self) -> list[Record]:
        """Records written since the last call, in time order (held back `settle` seconds)."""
        self._raise_if_failed()
        return self._tail.poll(self.clock())

    def records(self) -> list[Record]:
        """Every record so far, merged from all parts in time order."""
        return read_records(self.record_dir)

    def locust_totals(self) -> tuple[int, int] | None:
        """Locust's own request and failure counts (its final statistics), once it has ended."""
        return read_locust_totals(self.record_dir / f"{STATS_PREFIX}.json")

    # -- ending ---------------------------------------------------------------------------------
    def wait(self, timeout: float) -> int:
        """Wait for the load to end by itself (its last phase is over); its exit status."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise LoadError(f"the load is still running after {timeout:g} s") from None
        self._raise_if_failed()
        return code

    def stop(self, grace: float = STOP_GRACE) -> list[Record]:
        """End the load and return the records `tail()` has not returned yet.

        Locust gets SIGTERM (a master tells its workers to quit; everyone flushes), then after
        `grace` seconds whatever is left of its process group gets SIGKILL."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("Locust (pid %d) did not stop within %g s; killing it", self.process.pid, grace)
        self._signal(signal.SIGKILL)  # whatever is left of the group, e.g. --processes children
        self.process.wait()
        return self._tail.poll()

    def __enter__(self) -> LoadRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------------
    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
            os.killpg(self.process.pid, signum)

    def _raise_if_failed(self, also_when_done: bool = False) -> None:
        code = self.process.poll()
        if code is None or (code == 0 and not also_when_done):
            return
        self._signal(signal.SIGKILL)
        what = f"exited with status {code}" if code else "ended before the test started"
        raise LoadError(f"Locust {what}{self._log_tail()}")

    def _log_tail(self) -> str:
        path = self.record_dir / LOG_NAME
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        tail = " | ".join(line.strip() for line in lines[-_LOG_TAIL_LINES:] if line.strip())
        return f": {tail}" if tail else ""


def read_locust_totals(stats_json: Path) -> tuple[int, int] | None:
    """(requests, failures) over all entries of Locust's final `--json-file` statistics, if written."""
    if not stats_json.exists():
        return None
    entries = json.loads(stats_json.read_text(encoding="utf-8"))
    requests = sum(int(e["num_requests"]) for e in entries)
    failures = sum(int(e["num_failures"]) for e in entries)
    return requests, failures
