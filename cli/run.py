"""`chaoslab run` and `chaoslab cleanup`: the progress display and the commands' outcome lines.

The commands in cli/main.py only parse options and call `run_command` / `cleanup_command`, which
take the embedded testbed's seams (runner.backend) and show progress with rich: one live line per
second on a terminal (phase, elapsed, availability and p95 of the last seconds, ready pods, chaos in
flight) and one printed line per notable event everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.text import Text

from analysis.score_render import headline
from analysis.summary import fmt
from chaos.record import Event, EventKind
from chaos.spec import load_experiment
from chaos.system import SystemProfile
from cli.backend import Backend, open_seams
from runner.backend import cluster_marker, open_cluster, open_testbed
from runner.cleanup import cleanup
from runner.cluster_cleanup import cleanup_cluster
from runner.doctor import doctor
from runner.executors.cluster_view import ClusterSystem
from runner.marker import Marker
from runner.prerequisites import check_prerequisites
from runner.prometheus import PrometheusApi
from runner.results import Progress
from runner.runner import Runner
from runner.state import RunOptions

log = logging.getLogger(__name__)

SHOWN_EVENTS: dict[str, str] = {
    EventKind.PHASE: "phase",
    EventKind.STEADY_STATE: "steady state",
    EventKind.INJECT: "inject",
    EventKind.RECOVER: "recover",
    EventKind.RECOVERED: "recovered",
    EventKind.ABORT: "ABORT",
    EventKind.ROLLBACK: "rollback",
    EventKind.POD_NOT_READY: "pod not ready",
    EventKind.POD_READY: "pod ready",
    EventKind.POD_CREATED: "pod created",
    EventKind.CLEANUP: "cleanup",
    EventKind.WARNING: "warning",
    EventKind.RUN_END: "run ended",
}


class RunDisplay:
    """Progress of a run on a console: a live status line and one line per notable event."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.origin: float | None = None
        self.live: Live | None = None

    def event(self, event: Event) -> None:
        if event.kind == EventKind.LOAD_STARTED:
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
    backend: Backend,
    runs_root: Path,
    dry_run: bool,
    predict: bool,
    replications: int,
    seed: int,
    jobs: int | None,
    console: Console,
    profile: Path | None = None,
) -> int:
    """What `chaoslab run` does (`profile` replaces the spec's system profile); returns the exit status."""
    backend.check()
    experiment = load_experiment(spec, profile)
    with open_seams(backend, experiment, runs_root, seed, predict, replications, jobs) as seams:
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
    if result.report is not None:
        say(console, headline(result.report.card))
        say(console, f"report: {result.report.results} and {result.report.html}")
    say(console, f"run record: {result.record_dir}")
    return result.exit_code


def cleanup_command(
    backend: Backend,
    runs_root: Path,
    sweep_all: bool,
    console: Console,
    namespace: str = "ml-services",
    chaos_namespaces: tuple[str, ...] = ("chaos-testing",),
) -> int:
    """What `chaoslab cleanup` does; returns the exit status."""
    if backend.kind == "kubernetes":
        api, location = open_cluster(backend.cluster())
        try:
            profile = replace(SystemProfile(), service=replace(SystemProfile().service, namespace=namespace))
            system = ClusterSystem(
                api, profile, "", "", f"{location}, namespace {namespace}", chaos_namespaces
            )
            marker = cluster_marker(runs_root, location, namespace)
            report = cleanup_cluster(marker, system, api, sweep_all)
        finally:
            api.close()  # type: ignore[no-untyped-call]
    else:
        with open_testbed(backend.run_dir) as testbed:
            report = cleanup(Marker.of_testbed(testbed.location), testbed, sweep_all=sweep_all)
        where = testbed.location
    if report.marker is None and not sweep_all:
        say(console, f"no crash marker for {where}: no run left chaos behind")
    say(console, report.describe())
    for note in report.notes:
        say(console, f"note: {note}")
    return 0


def doctor_text(spec: Path, backend: Backend, console: Console) -> int:
    """What `chaoslab doctor` does: one line per check; returns 1 when any failed."""
    experiment = load_experiment(spec)
    if backend.kind != "kubernetes":
        with open_testbed(backend.run_dir) as testbed:
            prometheus = PrometheusApi(testbed.prometheus_url)
            try:
                warnings = check_prerequisites(experiment, testbed, prometheus)
            finally:
                prometheus.close()
        say(console, f"ok   testbed at {testbed.location}: running, pods ready, Prometheus up with the rules")
        for warning in warnings:
            say(console, f"warn {warning}")
        return 0
    api, location = open_cluster(backend.cluster())
    try:
        checks = doctor(api, experiment, backend.prometheus if backend.prometheus != "-" else None)
    finally:
        api.close()  # type: ignore[no-untyped-call]
    say(console, f"{location}, experiment {experiment.name}")
    for check in checks:
        say(console, check.line())
    failed = sum(1 for c in checks if not c.ok)
    say(console, f"{len(checks) - failed}/{len(checks)} checks passed")
    return 1 if failed else 0
