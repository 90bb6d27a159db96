"""The command lines of everything the testbed runs (pure: a plan in, argv out)."""

from __future__ import annotations

import sys
from pathlib import Path

from chaos.system import SystemProfile
from testbed.config import Plan
from testbed.rundir import RunDir

REDIS_DB = 0


def redis_url(host: str, port: int) -> str:
    return f"redis://{host}:{port}/{REDIS_DB}"


def pod_command(
    plan: Plan,
    profile: SystemProfile,
    run_dir: RunDir,
    pod: str,
    port: int,
    ready_not_before: float | None = None,
) -> list[str]:
    """A pod's container: the service on its slot's port, reaching Redis only through the fault proxy,
    with the model slots of `profile` (the plan's, read once by the caller); /ready fails until the
    wall-clock time `ready_not_before` (the container's start-up time)."""
    return [
        sys.executable,
        "-m",
        "service",
        "serve",
        "--host",
        plan.host,
        "--port",
        str(port),
        "--pod-name",
        pod,
        "--profile",
        str(plan.profile_path),
        "--concurrency",
        str(profile.service.concurrency),
        "--redis-url",
        redis_url(plan.host, plan.ports.proxy),
        "--artifacts",
        str(artifacts_dir(plan, run_dir)),
        "--log-level",
        "WARNING",
    ] + ([] if ready_not_before is None else ["--ready-not-before", f"{ready_not_before:.3f}"])


def artifacts_dir(plan: Plan, run_dir: RunDir) -> Path:
    return plan.artifacts or run_dir.file("artifacts")


def train_command(plan: Plan, run_dir: RunDir) -> list[str]:
    return [sys.executable, "-m", "service", "train", "--artifacts", str(artifacts_dir(plan, run_dir))]


def load_features_command(plan: Plan) -> list[str]:
    """Features go straight into Redis (set-up is not part of any experiment)."""
    return [
        sys.executable,
        "-m",
        "service",
        "load-features",
        "--redis-url",
        redis_url(plan.host, plan.ports.redis),
    ]


def redis_command(plan: Plan, run_dir: RunDir) -> list[str]:
    data = run_dir.file("redis")
    data.mkdir(parents=True, exist_ok=True)
    return [
        plan.binaries["redis-server"],
        "--bind",
        plan.host,
        "--port",
        str(plan.ports.redis),
        "--dir",
        str(data),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
    ]


def proxy_command(plan: Plan) -> list[str]:
    return [
        sys.executable,
        "-m",
        "testbed",
        "proxy",
        "--listen",
        f"{plan.host}:{plan.ports.proxy}",
        "--upstream",
        f"{plan.host}:{plan.ports.redis}",
        "--control",
        f"{plan.host}:{plan.ports.proxy_control}",
        "--seed",
        str(plan.seed),
    ]


def haproxy_command(plan: Plan, config: Path) -> list[str]:
    return [plan.binaries["haproxy"], "-db", "-f", str(config)]


def prometheus_command(plan: Plan, config: Path, data: Path) -> list[str]:
    return [
        plan.binaries["prometheus"],
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        "--storage.tsdb.retention.time=2d",
        f"--web.listen-address={plan.host}:{plan.ports.prometheus}",
        "--log.level=warn",
    ]


def node_exporter_command(plan: Plan) -> list[str]:
    """The machine's CPU counters only (node_cpu_seconds_total): what a run records of its host."""
    return [
        plan.binaries["prometheus-node-exporter"],
        f"--web.listen-address={plan.host}:{plan.ports.node_exporter}",
        "--collector.disable-defaults",
        "--collector.cpu",
        "--web.disable-exporter-metrics",
        "--log.level=warn",
    ]


def daemon_command(run_dir: RunDir) -> list[str]:
    return [sys.executable, "-m", "testbed", "daemon", "--run-dir", str(run_dir.path)]
