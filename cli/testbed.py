"""`chaoslab testbed up|down|status`: the embedded one-machine cluster from the command line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from chaos.durations import parse_duration
from chaos.errors import ChaosLabError
from cli.common import configure_logging, err_console, reports_errors
from testbed import lifecycle
from testbed.client import TestbedClient, Urls
from testbed.config import DEFAULT_PROFILE, DEFAULT_RULES, Overrides, Plan
from testbed.rundir import ENV_RUN_DIR, RunDir, default_run_dir
from testbed.status import TestbedStatus, collect_status

app = typer.Typer(
    name="testbed",
    help="The embedded testbed: pods, HAProxy, Redis behind a fault proxy, Prometheus, on this machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
FOREGROUND_POLL = 0.5
_STEP_STYLE = {"ready": "green", "starting": "yellow", "failed": "red"}

RunDirOption = Annotated[
    Path | None,
    typer.Option(
        "--run-dir", envvar=ENV_RUN_DIR, help="Folder for state, logs and PIDs [default: runs/testbed]"
    ),
]


class DurationError(ChaosLabError):
    """A duration flag is not a Go duration string."""

    hint = "write durations such as 500ms, 2s or 1m"


def _seconds(flag: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise DurationError(f"{flag}: {exc}") from None


def _run_dir(path: Path | None) -> RunDir:
    return RunDir((path or default_run_dir()).resolve())


@app.command()
@reports_errors
def up(
    profile: Annotated[Path, typer.Option(help="System profile to start from.")] = DEFAULT_PROFILE,
    replicas: Annotated[int | None, typer.Option(min=1, help="Pods (default: the profile's).")] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Model slots per pod (default: the profile's).")
    ] = None,
    probe_period: Annotated[
        str | None, typer.Option(help="Readiness period = HAProxy inter, e.g. 500ms.")
    ] = None,
    probe_failure_threshold: Annotated[int | None, typer.Option(min=1, help="= HAProxy fall.")] = None,
    probe_success_threshold: Annotated[int | None, typer.Option(min=1, help="= HAProxy rise.")] = None,
    schedule_delay: Annotated[str | None, typer.Option(help="Delay before a replacement pod starts.")] = None,
    startup_time: Annotated[str | None, typer.Option(help="Container start until /ready can pass.")] = None,
    restart_backoff: Annotated[str | None, typer.Option(help="First CrashLoopBackOff delay.")] = None,
    alert_for: Annotated[str | None, typer.Option(help="Replace every alert's `for:` (short runs).")] = None,
    rules: Annotated[Path | None, typer.Option(help="Prometheus alert rules.")] = DEFAULT_RULES,
    artifacts: Annotated[
        Path | None, typer.Option(help="Model artifacts (default: trained into the run dir).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for pod names and fault draws.")] = 0,
    run_dir: RunDirOption = None,
    foreground: Annotated[bool, typer.Option(help="Stay attached; Ctrl-C stops the testbed.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Start the testbed and return once every component is up (it keeps running in the background)."""
    configure_logging(verbose)
    overrides = Overrides(
        replicas=replicas,
        concurrency=concurrency,
        probe_period=_seconds("--probe-period", probe_period),
        probe_failure_threshold=probe_failure_threshold,
        probe_success_threshold=probe_success_threshold,
        schedule_delay=_seconds("--schedule-delay", schedule_delay),
        startup_time=_seconds("--startup-time", startup_time),
        restart_backoff=_seconds("--restart-backoff", restart_backoff),
        alert_for=_seconds("--alert-for", alert_for),
    )
    options = lifecycle.UpOptions(profile, overrides, rules, artifacts, seed)
    where = _run_dir(run_dir)
    stale = lifecycle.cleanup_stale(where)
    if stale:
        console.print(f"cleaned up {len(stale)} process(es) left by a crashed testbed in {where.path}")
    try:
        with Live(_progress({}), console=console, transient=True) as live:
            plan = lifecycle.start(where, options, on_progress=lambda state: live.update(_progress(state)))
    except KeyboardInterrupt:
        err_console.print("interrupted: stopped everything the testbed had started")
        raise typer.Exit(130) from None
    console.print(_summary(plan, where))
    if foreground:
        _stay_attached(where)


@app.command()
@reports_errors
def down(run_dir: RunDirOption = None) -> None:
    """Stop every process the testbed started (also after a crash); logs stay in the run directory."""
    where = _run_dir(run_dir)
    stopped = lifecycle.stop(where)
    if stopped:
        console.print(f"stopped {len(stopped)} process(es); logs kept in {where.logs}")
    else:
        console.print(f"no testbed process was running from {where.path}")


@app.command()
@reports_errors
def status(
    run_dir: RunDirOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Pods (ready, restarts, HAProxy, breaker), proxy faults, alerts firing, processes."""
    with TestbedClient(_run_dir(run_dir)) as client:
        view = collect_status(client)
    if json_output:
        console.print_json(data=view.to_json())
        return
    console.print(_status_tables(view))


# -- rendering --------------------------------------------------------------------------------
def _progress(state: dict[str, Any]) -> Table:
    table = Table(title="starting the testbed", show_header=False, box=None)
    for step in state.get("steps", []):
        style = _STEP_STYLE.get(step["status"], "")
        table.add_row(step["name"], f"[{style}]{step['status']}[/]", step.get("detail", ""))
    if not state.get("steps"):
        table.add_row("daemon", "[yellow]starting[/]", "")
    return table


def _summary(plan: Plan, where: RunDir) -> Table:
    urls = Urls.of(plan)
    service = plan.profile().service
    table = Table(title=f"testbed up: {len(plan.ports.pods)} pods", show_header=False)
    rows = [
        (
            "profile",
            f"{plan.profile_path.name}: {service.replicas} pods x {service.concurrency} model slots, "
            f"{service.service_time.mean * 1e3:g} ms mean service time",
        ),
        ("service (HAProxy)", urls.service + "/predict"),
        ("HAProxy stats", urls.haproxy_stats),
        ("Prometheus", urls.prometheus),
        ("feature store (via fault proxy)", urls.feature_store),
        ("Redis (direct)", urls.redis_direct),
        ("fault proxy control", urls.proxy_control + "/faults"),
        ("supervisor", urls.supervisor + "/status"),
        ("node exporter (the machine's CPU)", urls.node_exporter),
        ("pod ports", ", ".join(str(p) for p in plan.ports.pods)),
        ("run dir", str(where.path)),
        (
            "stop with",
            "chaoslab testbed down" + (f" --run-dir {where.path}" if where != _run_dir(None) else ""),
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _status_tables(view: TestbedStatus) -> Group:
    pods = Table(title=f"testbed {view.phase} ({view.run_dir})")
    pods.add_column("pod", overflow="fold")
    for column in ("port", "phase", "ready", "restarts", "haproxy", "breaker", "note"):
        pods.add_column(column)
    for pod in view.pods:
        note = "pod-failure injected" if pod.failure_injected else pod.reason
        ready = "[green]yes[/]" if pod.ready else "[red]no[/]"
        pods.add_row(
            pod.name, str(pod.port), pod.phase, ready, str(pod.restarts), pod.haproxy, pod.breaker, note
        )
    faults = Table(title="fault proxy (feature store)")
    faults.add_column("fault")
    faults.add_column("effect")
    for fault in view.faults:
        faults.add_row(fault["name"], _describe_fault(fault))
    if not view.faults:
        faults.add_row("-", "none: traffic passes unchanged")
    alerts = Table(title=f"alerts ({len(view.rules)} rules loaded)")
    alerts.add_column("alert")
    alerts.add_column("state")
    alerts.add_column("since")
    for alert in view.alerts:
        alerts.add_row(alert.name, alert.state, alert.active_at)
    if not view.alerts:
        alerts.add_row("-", "none firing or pending", "")
    procs = Table(title="processes")
    procs.add_column("name")
    procs.add_column("pid")
    procs.add_column("alive")
    for comp in view.components:
        procs.add_row(comp.name, str(comp.pid), "yes" if comp.alive else "[red]no[/]")
    return Group(pods, faults, alerts, procs)


def _describe_fault(fault: dict[str, Any]) -> str:
    parts = [f"direction {fault['direction']}"]
    if "delay" in fault:
        d = fault["delay"]
        parts.append(
            f"delay {d['latency'] * 1000:g}ms ± {d['jitter'] * 1000:g}ms (corr {d['correlation']:.0%})"
        )
    if "loss" in fault:
        parts.append(f"loss {fault['loss']['loss']:.0%}")
    if "partition" in fault:
        parts.append(f"partition ({fault['partition']})")
    return ", ".join(parts)


def _stay_attached(where: RunDir) -> None:
    console.print("running in the foreground; Ctrl-C stops the testbed")
    try:
        while lifecycle.is_running(where):
            time.sleep(FOREGROUND_POLL)
        err_console.print("the testbed stopped by itself; see its logs in " + str(where.logs))
    except KeyboardInterrupt:
        pass
    finally:
        stopped = lifecycle.stop(where)
        console.print(f"stopped {len(stopped)} process(es)")
