"""Process records survive PID reuse; the run directory finds leftovers; missing binaries are named."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaos import processes
from testbed import binaries, lifecycle
from testbed.config import Overrides, Plan, Ports
from testbed.ports import free_ports, port_in_use
from testbed.rundir import RunDir

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def run_dir(tmp_path: Path) -> RunDir:
    rd = RunDir(tmp_path / "run")
    rd.prepare()
    return rd


def sleeper(run_dir: RunDir, name: str) -> processes.ProcessRecord:
    popen = processes.spawn(name, SLEEPER, run_dir.log(name))
    record = processes.record_of(name, popen.pid, SLEEPER)
    run_dir.record_process(record)
    return record


def test_a_record_only_matches_the_process_it_was_taken_from(run_dir: RunDir) -> None:
    record = sleeper(run_dir, "sleeper")
    try:
        assert processes.is_alive(record)
        impostor = processes.ProcessRecord(record.name, record.pid, record.start_ticks + 1)
        assert not processes.is_alive(impostor)
    finally:
        assert processes.stop(record, grace=2.0)
    assert not processes.is_alive(record)


def test_cleanup_stops_what_a_crashed_testbed_left_and_refuses_a_live_one(run_dir: RunDir) -> None:
    leftover = sleeper(run_dir, "redis")
    dead_daemon = processes.ProcessRecord("daemon", leftover.pid, leftover.start_ticks + 1)
    run_dir.record_process(dead_daemon)
    stopped = lifecycle.cleanup_stale(run_dir)
    assert [r.name for r in stopped] == ["redis"]
    assert not processes.is_alive(leftover)
    assert run_dir.processes() == []

    live_daemon = sleeper(run_dir, "daemon")
    try:
        with pytest.raises(lifecycle.TestbedRunningError, match="already running"):
            lifecycle.cleanup_stale(run_dir)
    finally:
        processes.stop(live_daemon, grace=2.0)


def test_prepare_starts_afresh_but_keeps_trained_artifacts(run_dir: RunDir) -> None:
    (run_dir.path / "artifacts").mkdir()
    (run_dir.path / "artifacts" / "model.bin").write_text("x")
    run_dir.log("old").write_text("old log")
    run_dir.prepare()
    assert (run_dir.path / "artifacts" / "model.bin").exists()
    assert list(run_dir.logs.iterdir()) == []


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(12)
    assert len(set(ports)) == 12
    assert not any(port_in_use(p) for p in ports)


def test_a_plan_round_trips_through_its_file(run_dir: RunDir) -> None:
    plan = Plan(
        profile_path=Path("/x/system.yaml"),
        ports=Ports.from_list(list(range(8000, 8011)), 3),
        overrides=Overrides(replicas=3, probe_period=0.5),
        binaries={"haproxy": "/usr/sbin/haproxy"},
    )
    plan.save(run_dir.plan_file)
    assert run_dir.plan() == plan
    assert plan.ports.pods == (8008, 8009, 8010)


def test_overrides_change_only_what_they_name(repo_root: Path) -> None:
    from chaos.system import load_system_profile

    profile = load_system_profile(repo_root / "experiments" / "system.yaml")
    changed = Overrides(replicas=3, concurrency=4, probe_period=0.5, schedule_delay=0.2).apply(profile)
    assert changed.service.replicas == 3
    assert changed.service.concurrency == 4
    assert changed.service.max_queue == profile.service.max_queue
    assert changed.readiness.period == 0.5
    assert changed.readiness.failure_threshold == profile.readiness.failure_threshold
    assert changed.lifecycle.schedule_delay == 0.2
    assert changed.lifecycle.startup_time == profile.lifecycle.startup_time
    assert Overrides().apply(profile) == profile


def test_a_missing_binary_names_the_debian_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(binaries, "_SYSTEM_DIRS", ())
    with pytest.raises(binaries.MissingBinaryError) as info:
        binaries.find_binary("redis-server")
    assert info.value.one_line().endswith("install the Debian package: sudo apt-get install redis-server")


def test_up_without_prometheus_is_one_line_and_status_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cli.testbed import app

    for name in ("redis-server", "haproxy"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(binaries, "_SYSTEM_DIRS", ())
    result = CliRunner().invoke(app, ["up", "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("MissingBinaryError: prometheus is not installed")
    assert "apt-get install prometheus" in lines[0]


def test_status_without_a_testbed_is_one_line(tmp_path: Path) -> None:
    from cli.testbed import app

    result = CliRunner().invoke(app, ["status", "--run-dir", str(tmp_path / "nothing")])
    assert result.exit_code == 1
    assert result.output.startswith("TestbedNotRunningError: no testbed plan in")


def test_pods_are_started_with_the_overridden_concurrency(run_dir: RunDir, repo_root: Path) -> None:
    from service.__main__ import _parser
    from testbed.components import pod_command

    plan = Plan(
        profile_path=repo_root / "experiments" / "system.yaml",
        ports=Ports.from_list(list(range(8000, 8011)), 3),
        overrides=Overrides(replicas=3, concurrency=4),
    )
    args = _parser().parse_args(pod_command(plan, plan.profile(), run_dir, "pod-a", 8007)[3:])
    assert (args.port, args.pod_name, args.concurrency) == (8007, "pod-a", 4)
