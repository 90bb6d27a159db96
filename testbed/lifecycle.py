"""Bringing a testbed up and down through its run directory (what `chaoslab testbed up|down` do).

`start` plans ports, writes the plan, spawns the daemon detached and follows its progress until it
runs (or fails, and then stops what it started). `stop` asks the daemon to stop everything, then
makes sure: every process recorded in the run directory that is still alive is stopped too, which
is also how a crashed testbed is cleaned up.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos import processes
from chaos.errors import ChaosLabError
from chaos.processes import ProcessRecord
from chaos.system import load_system_profile
from testbed.binaries import find_all
from testbed.components import daemon_command
from testbed.config import (
    DEFAULT_PROFILE,
    DEFAULT_RULES,
    FIXED_PORTS,
    PROJECT_ROOT,
    Overrides,
    Plan,
    Ports,
)
from testbed.daemon import StartupError
from testbed.ports import free_ports
from testbed.rundir import DAEMON, RunDir

START_TIMEOUT = 900.0
"""Upper bound for a whole start-up (training the model on a cold machine included)."""
DAEMON_STOP_TIMEOUT = 30.0
POLL = 0.2


class TestbedRunningError(ChaosLabError):
    """A testbed already runs from this run directory."""

    hint = "stop it with `chaoslab testbed down`, or pass another --run-dir"


@dataclass(frozen=True)
class UpOptions:
    profile: Path = DEFAULT_PROFILE
    overrides: Overrides = field(default_factory=Overrides)
    rules: Path | None = DEFAULT_RULES
    artifacts: Path | None = None
    seed: int = 0
    host: str = "127.0.0.1"


def plan_testbed(options: UpOptions) -> Plan:
    """Validate the profile, find the binaries and pick free ports (no process is started)."""
    binaries = find_all()
    profile_path = _resolve(options.profile)
    profile = options.overrides.apply(load_system_profile(profile_path))
    replicas = profile.service.replicas
    surge = profile.service.strategy.surge(replicas)
    rules = _resolve(options.rules) if options.rules is not None else None
    if rules is not None and not rules.exists():
        rules = None
    return Plan(
        profile_path=profile_path,
        ports=Ports.from_list(free_ports(FIXED_PORTS + replicas + surge, options.host), replicas, surge),
        overrides=options.overrides,
        host=options.host,
        artifacts=_resolve(options.artifacts) if options.artifacts else None,
        rules_path=rules,
        seed=options.seed,
        binaries=binaries,
    )


def start(
    run_dir: RunDir,
    options: UpOptions,
    on_progress: Callable[[dict[str, Any]], None] = lambda state: None,
    timeout: float = START_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Plan:
    """Start a testbed and return its plan once every component is up; raise (and clean up) if not.

    A KeyboardInterrupt while starting stops everything started so far before it propagates.
    """
    cleanup_stale(run_dir)
    plan = plan_testbed(options)
    run_dir.prepare()
    plan.save(run_dir.plan_file)
    argv = daemon_command(run_dir)
    daemon = processes.spawn(DAEMON, argv, run_dir.log(DAEMON))
    run_dir.record_process(processes.record_of(DAEMON, daemon.pid, argv))
    deadline = clock() + timeout
    try:
        while True:
            state = run_dir.read_state()
            on_progress(state)
            if state.get("phase") == "running":
                return plan
            if state.get("phase") == "failed" or daemon.poll() is not None:
                raise StartupError(state.get("error") or f"the testbed daemon exited ({run_dir.log(DAEMON)})")
            if clock() > deadline:
                raise StartupError(f"the testbed was not up within {timeout:g} s")
            sleep(POLL)
    except BaseException:
        stop(run_dir)
        daemon.poll()
        raise


def stop(run_dir: RunDir) -> list[ProcessRecord]:
    """Stop the daemon and every process recorded in `run_dir`; returns the records found alive."""
    alive = [r for r in run_dir.processes() if processes.is_alive(r)]
    daemon = run_dir.daemon()
    if daemon is not None and processes.is_alive(daemon):
        os.kill(daemon.pid, signal.SIGTERM)
        if not processes.wait_gone(daemon, DAEMON_STOP_TIMEOUT):
            processes.signal_group(daemon, signal.SIGKILL)
            processes.wait_gone(daemon, processes.STOP_GRACE)
    for record in run_dir.processes():
        if processes.is_alive(record):
            processes.stop(record)
        run_dir.forget_process(record.name)
    if run_dir.exists():
        state = run_dir.read_state()
        if state.get("phase") != "failed":
            state["phase"] = "stopped"
        run_dir.write_state(state)
    return alive


def cleanup_stale(run_dir: RunDir) -> list[ProcessRecord]:
    """Stop what a crashed testbed left behind; refuse when its daemon still runs."""
    daemon = run_dir.daemon()
    if daemon is not None and processes.is_alive(daemon):
        raise TestbedRunningError(
            f"a testbed is already running from {run_dir.path} (daemon pid {daemon.pid})"
        )
    return stop(run_dir) if run_dir.processes() else []


def is_running(run_dir: RunDir) -> bool:
    daemon = run_dir.daemon()
    return (
        daemon is not None and processes.is_alive(daemon) and run_dir.read_state().get("phase") == "running"
    )


def _resolve(path: Path) -> Path:
    """Relative paths are taken from the current directory, else from the project root."""
    if path.is_absolute():
        return path
    here = Path.cwd() / path
    return (here if here.exists() else PROJECT_ROOT / path).resolve()
