"""`chaoslab run` and `chaoslab cleanup` behind the CLI: the real seams, the progress display.

The commands in chaos/cli.py only parse options and call `run_command` / `cleanup_command`, which
wire the runner to the embedded testbed (its pods, its executor, its Prometheus, Locust against its
HAProxy frontend) and show progress with rich: one live line per second on a terminal (phase,
elapsed, availability and p95 of the last seconds, ready pods, chaos in flight) and one printed line
per notable event everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from chaos.cleanup import cleanup
from chaos.load_driver import LoadRun
from chaos.marker import Marker
from chaos.prediction import forecast_json
from chaos.prerequisites import START_HINT, prerequisite_error
from chaos.prometheus_reader import PrometheusApi
from chaos.run_record import Event
from chaos.run_seams import LoadHandle, Predictor, Seams, SystemClock
from chaos.run_state import RunOptions
from chaos.runner import Progress, Runner
from chaos.spec import Experiment, load_experiment
from chaos.summary import fmt
from chaos.testbed_view import LocalTestbed
from testbed.client import TestbedNotRunningError
from testbed.cluster import local_executor
from testbed.rundir import default_run_dir

log = logging.getLogger(__name__)

SHOWN_EVENTS = {
    "phase": "phase",
    "steady-state": "steady state",
    "inject": "inject",
    "recover": "recover",
    "recovered": "recovered",
    "abort": "ABORT",
    "rollback": "rollback",
    "pod-not-ready": "pod not ready",
    "pod-ready": "pod ready",
    "pod-created": "pod created",
    "cleanup": "cleanup",
    "warning": "warning",
    "run-end": "run ended",
}


@contextmanager
def open_testbed(run_dir: Path | None) -> Iterator[LocalTestbed]:
    try:
        testbed = LocalTestbed.open((run_dir or default_run_dir()).resolve())
    except TestbedNotRunningError as exc:
        raise prerequisite_error(f"no testbed is running: {exc}", START_HINT) from exc
    try:
        yield testbed
    finally:
        testbed.close()


@contextmanager
def real_seams(
    testbed: LocalTestbed, seed: int, predict: bool, replications: int, jobs: int | None
) -> Iterator[Seams]:
    """The runner's seams on the embedded testbed (Prometheus' connection closed after)."""

    def start_load(folder: Path, experiment: Experiment, settle: float) -> LoadHandle:
        return LoadRun.start(testbed.service_url, folder, experiment, seed=seed, settle=settle)

    predictor: Predictor | None = None
    if predict:

        def predictor(experiment: Experiment) -> dict[str, Any]:
            return forecast_json(experiment, replications=replications, seed=seed, jobs=jobs)

    prometheus = PrometheusApi(testbed.prometheus_url)
    try:
        yield Seams(
            clock=SystemClock(),
            executor=local_executor(testbed.client.run_dir, seed=seed),
            start_load=start_load,
            prometheus=prometheus,
            testbed=testbed,
            predictor=predictor,
        )
    finally:
        prometheus.close()


class RunDisplay:
    """Progress of a run on a console: a live status line and one line per notable event."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.origin: float | None = None
        self.live: Live | None = None

    def event(self, event: Event) -> None:
        if event.kind == "load-started":
            self.origin = float(event.detail.get("at", event.time))
        label = SHOWN_EVENTS.get(event.kind)
        if label is None:
            return
        at = f"{event.time - self.origin:7.1f} s" if self.origin is not None else "    -    "
        detail = ", ".join(f"{k}={_short(v)}" for k, v in event.detail.items() if k not in ("at", "values"))
        say(self.console, f"{at}  {label}  {detail}")

    def progress(self, progress: Progress) -> None:
        if self.live is not None:
            self.live.update(status_line(progress), refresh=True)

    @contextmanager
    def showing(self) -> Iterator[RunDisplay]:
        if not self.console.is_terminal:
            yield self
            return
        with Live(Text(""), console=self.console, transient=True, auto_refresh=False) as live:
            self.live = live
            try:
                yield self
            finally:
                self.live = None


def status_line(p: Progress) -> Text:
    availability, p95 = p.live.get("availability"), p.live.get("latency_p95")
    ready = "-" if p.ready is None else f"{p.ready}/{p.desired}"
    chaos = ", ".join(p.injected) or "none"
    return Text(
        f"{p.phase:<9} {p.elapsed:6.0f}/{p.total:g} s  availability {fmt('availability', availability)}  "
        f"p95 {fmt('latency_p95', p95)}  ready {ready}  chaos {chaos}"
    )


def say(console: Console, text: str) -> None:
    """Print plain text, unwrapped (paths and pod names stay whole)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def run_command(
    spec: Path,
    run_dir: Path | None,
    runs_root: Path,
    dry_run: bool,
    predict: bool,
    replications: int,
    seed: int,
    jobs: int | None,
    console: Console,
) -> int:
    """What `chaoslab run` does; returns the exit status."""
    experiment = load_experiment(spec)
    with open_testbed(run_dir) as testbed, real_seams(testbed, seed, predict, replications, jobs) as seams:
        display = RunDisplay(console)
        runner = Runner(
            experiment, seams, RunOptions(runs_root=runs_root, seed=seed), display.progress, display.event
        )
        if dry_run:
            for line in runner.dry_run().lines():
                say(console, line)
            return 0
        if predict:
            say(console, f"predicting {experiment.name} ({replications} replications)...")
        with display.showing():
            result = runner.run()
    say(
        console,
        f"{result.status}: {result.passed}/{result.criteria} criteria passed"
        + (f" ({result.reason})" if result.reason else "")
        + f"; rollback {'done' if result.rollback_done else 'INCOMPLETE: run `chaoslab cleanup`'}",
    )
    say(console, f"run record: {result.record_dir}")
    return result.exit_code


def cleanup_command(run_dir: Path | None, sweep_all: bool, console: Console) -> int:
    """What `chaoslab cleanup` does; returns the exit status."""
    with open_testbed(run_dir) as testbed:
        report = cleanup(Marker.of_testbed(testbed.location), testbed, sweep_all=sweep_all)
    if report.marker is None and not sweep_all:
        say(console, f"no crash marker in {testbed.location}: no run left chaos behind")
    say(console, report.describe())
    for note in report.notes:
        say(console, f"note: {note}")
    return 0
