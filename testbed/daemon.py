"""The testbed daemon: starts every component in order, supervises the pods, stops it all on SIGTERM.

`chaoslab testbed up` spawns it detached (`python -m testbed daemon --run-dir DIR`) after writing
the plan; it reports progress in the run directory's state file and serves its API on the
supervisor port. Start order: API, Redis, model artifacts, features, fault proxy, pods, HAProxy,
Prometheus (until every target is up). Stop order is the reverse. Every process it starts is
recorded in the run directory before anything else happens, so a crashed daemon's children can be
found and stopped by the next `up` or `down`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
import yaml
from prometheus_client import CollectorRegistry

from chaos import processes
from chaos.errors import ChaosLabError
from testbed import components
from testbed.config import write_json
from testbed.daemon_api import daemon_app
from testbed.haproxy import endpoint_command, haproxy_config, runtime_command, server_name, server_states
from testbed.http import ControlServer
from testbed.prometheus import alert_names, load_rules, pod_targets, prometheus_config
from testbed.replicaset import Endpoint, Pod, PodTemplate, ReplicaSet, Start
from testbed.rundir import DAEMON, RULES_FILE, RunDir
from testbed.supervisor import PodMetrics, ProcessMetrics, Supervisor

log = logging.getLogger(__name__)

POLL = 0.1
TIMEOUTS = {
    "redis": 15.0,
    "artifacts": 600.0,
    "features": 180.0,
    "fault proxy": 15.0,
    "node exporter": 15.0,
    "pods": 120.0,
    "haproxy": 60.0,
    "prometheus": 60.0,
}
TRAINED_STAMP = ".chaoslab-trained"
LOG_TAIL_LINES = 5


class StartupError(ChaosLabError):
    """A testbed component did not come up; names it and quotes its log."""

    hint = "see the logs in the run directory; `chaoslab testbed down` cleans up"


class Daemon:
    def __init__(self, run_dir: RunDir) -> None:
        self.run_dir = run_dir
        self.plan = run_dir.plan()
        self.profile = self.plan.profile()
        self.registry = CollectorRegistry()
        self.registry.register(ProcessMetrics(run_dir.processes))
        self.supervisor: Supervisor | None = None
        self.phase = "starting"
        self.error = ""
        self.steps: list[dict[str, Any]] = []
        self.rules: list[str] = []
        self._procs: list[tuple[str, subprocess.Popen[bytes], processes.ProcessRecord]] = []
        self._stop = asyncio.Event()
        self._supervision: asyncio.Task[None] | None = None
        self._started = time.time()

    # -- state -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "error": self.error,
            "steps": list(self.steps),
            "pid": os.getpid(),
            "started_at": self._started,
            "rules": self.rules,
        }

    def _publish(self) -> None:
        self.run_dir.write_state(self.state())

    def _step(self, name: str, status: str, detail: str = "") -> None:
        for step in self.steps:
            if step["name"] == name:
                step.update(status=status, detail=detail)
                break
        else:
            self.steps.append({"name": name, "status": status, "detail": detail})
        self._publish()

    # -- main --------------------------------------------------------------------------------
    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        self.run_dir.record_process(processes.record_of(DAEMON, os.getpid()))
        api = ControlServer(daemon_app(self), self.plan.host, self.plan.ports.supervisor)
        code = 0
        try:
            await api.start()
            self._publish()
            await self._start_all()
            self.phase = "running"
            self._publish()
            log.info("testbed running")
            await self._stop.wait()
        except (ChaosLabError, OSError) as exc:
            self.phase, self.error, code = "failed", str(exc), 1
            log.error("start-up failed: %s", exc)
            self._publish()
        finally:
            await self._shutdown(api)
        return code

    async def _start_all(self) -> None:
        plan = self.plan
        await self._run_step("redis", self._start_redis)
        await self._run_step("artifacts", self._ensure_artifacts)
        await self._run_step(
            "features", lambda: self._one_shot("features", components.load_features_command(plan))
        )
        await self._run_step("fault proxy", self._start_proxy)
        self._supervision = asyncio.create_task(self._supervise())
        await self._run_step("pods", self._wait_pods_ready)
        await self._run_step("haproxy", self._start_haproxy)
        await self._run_step("node exporter", self._start_node_exporter)
        await self._run_step("prometheus", self._start_prometheus)

    async def _run_step(self, name: str, start: Callable[[], Awaitable[None]]) -> None:
        if self._stop.is_set():
            raise StartupError("stopped while starting")
        self._step(name, "starting")
        try:
            await asyncio.wait_for(start(), TIMEOUTS[name])
        except TimeoutError:
            self._step(name, "failed", f"not ready within {TIMEOUTS[name]:g} s")
            raise StartupError(
                f"{name} was not ready within {TIMEOUTS[name]:g} s{self._log_tail(name.replace(' ', '-'))}"
            ) from None
        except (ChaosLabError, OSError) as exc:
            self._step(name, "failed", str(exc))
            raise
        self._step(name, "ready")

    # -- components --------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        popen = processes.spawn(name, argv, self.run_dir.log(name))
        record = processes.record_of(name, popen.pid, argv)
        self.run_dir.record_process(record)
        self._procs.append((name, popen, record))
        return popen

    async def _until(
        self, name: str, popen: subprocess.Popen[bytes] | None, ready: Callable[[], Awaitable[bool]]
    ) -> None:
        """Poll `ready` until it holds; fail at once if the component's process exits."""
        while not await ready():
            if self._stop.is_set():
                raise StartupError(f"stopped while starting {name}")
            if popen is not None and popen.poll() is not None:
                raise StartupError(f"{name} exited with status {popen.returncode}{self._log_tail(name)}")
            await asyncio.sleep(POLL)

    async def _start_redis(self) -> None:
        popen = self._spawn("redis", components.redis_command(self.plan, self.run_dir))
        client = aioredis.Redis(host=self.plan.host, port=self.plan.ports.redis, socket_timeout=1.0)

        async def pong() -> bool:
            try:
                return bool(await client.ping())
            except (OSError, aioredis.RedisError):
                return False

        try:
            await self._until("redis", popen, pong)
        finally:
            await client.aclose()

    async def _ensure_artifacts(self) -> None:
        folder = components.artifacts_dir(self.plan, self.run_dir)
        if (folder / TRAINED_STAMP).exists():
            return
        folder.mkdir(parents=True, exist_ok=True)
        await self._one_shot("artifacts", components.train_command(self.plan, self.run_dir))
        (folder / TRAINED_STAMP).write_text("trained by chaoslab testbed\n")

    async def _one_shot(self, name: str, argv: list[str]) -> None:
        """Run a set-up command to completion; its output goes to the component's log."""
        with self.run_dir.log(name).open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            with contextlib.suppress(ProcessLookupError):  # found by `down` should the daemon crash
                self.run_dir.record_process(processes.record_of(name, proc.pid, argv))
            stopped = asyncio.create_task(self._stop.wait())
            finished = asyncio.create_task(proc.wait())
            try:
                await asyncio.wait({stopped, finished}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
                if not finished.done():
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    await finished
                self.run_dir.forget_process(name)
            code = finished.result()
            if self._stop.is_set():
                raise StartupError(f"stopped while running {name}")
        if code != 0:
            raise StartupError(
                f"{name}: `{' '.join(argv[1:4])}` exited with status {code}{self._log_tail(name)}"
            )

    async def _start_proxy(self) -> None:
        popen = self._spawn("fault-proxy", components.proxy_command(self.plan))
        url = self.plan.url(self.plan.ports.proxy_control, "/healthz")
        await self._until("fault-proxy", popen, lambda: _http_ok(url))

    async def _start_node_exporter(self) -> None:
        popen = self._spawn("node-exporter", components.node_exporter_command(self.plan))
        url = self.plan.url(self.plan.ports.node_exporter, "/metrics")
        await self._until("node-exporter", popen, lambda: _http_ok(url))

    async def _supervise(self) -> None:
        plan, profile = self.plan, self.profile
        template = PodTemplate(
            name=profile.service.name,
            namespace=profile.service.namespace,
            labels=dict(profile.service.labels),
            container=profile.service.name,
            ports=plan.ports.pods,
            lifecycle=profile.lifecycle,
            readiness=profile.readiness,
            liveness=profile.liveness,
            surge_ports=plan.ports.surge,
            max_unavailable=profile.service.strategy.unavailable(profile.service.replicas),
        )
        replicaset = ReplicaSet(template, random.Random(plan.seed))
        targets = self.run_dir.file("targets")
        targets.mkdir(exist_ok=True)

        def launch(start: Start) -> subprocess.Popen[bytes]:
            ready_not_before = time.time() + start.startup
            argv = components.pod_command(
                plan, profile, self.run_dir, start.pod, start.port, ready_not_before
            )
            env = {**os.environ, **dict(start.env)} if start.env else None
            return processes.spawn(f"pod-{start.slot}", argv, self.run_dir.log(f"pod-{start.slot}"), env)

        sock = self.run_dir.file("haproxy.sock")

        def endpoint(action: Endpoint) -> None:
            try:
                runtime_command(sock, endpoint_command(action.slot, action.enabled))
            except OSError as exc:  # HAProxy not up (yet): its checks still follow the pod
                log.warning("slot %d: could not set HAProxy's server: %s", action.slot, exc)

        def pods_changed(pods: list[Pod]) -> None:
            entries = pod_targets(
                plan.host, [(p.name, p.port) for p in pods], template.namespace, template.labels
            )
            write_json(targets / "pods.json", entries)

        self.supervisor = Supervisor(
            replicaset,
            launch,
            plan.host,
            on_record=self.run_dir.record_process,
            on_forget=self.run_dir.forget_process,
            on_pods_changed=pods_changed,
            on_endpoint=endpoint,
        )
        self.registry.register(PodMetrics(replicaset))
        try:
            await self.supervisor.run(self._stop)
        except Exception as exc:  # unsupervised pods would make every experiment wrong: stop it all
            log.exception("the supervisor failed")
            self.phase, self.error = "failed", f"the supervisor failed: {exc}"
            self._stop.set()

    async def _wait_pods_ready(self) -> None:
        async def all_ready() -> bool:
            sup = self.supervisor
            if sup is None:
                return False
            ready = sup.replicaset.available
            self._step("pods", "starting", f"{ready}/{sup.replicaset.template.replicas} ready")
            return ready == sup.replicaset.template.replicas

        await self._until("pods", None, all_ready)

    async def _start_haproxy(self) -> None:
        plan = self.plan
        config = self.run_dir.file("haproxy.cfg")
        sock = self.run_dir.file("haproxy.sock")
        config.write_text(
            haproxy_config(
                plan.host,
                plan.ports.service,
                plan.ports.haproxy_metrics,
                plan.ports.pods,
                self.profile.readiness,
                sock,
                plan.ports.surge,
            )
        )
        popen = self._spawn("haproxy", components.haproxy_command(plan, config))

        async def servers_up() -> bool:
            try:
                states = await asyncio.to_thread(server_states, sock)
            except OSError:
                return False
            replicas = [server_name(slot) for slot in range(len(plan.ports.pods))]
            return all(name in states and states[name].up for name in replicas)

        await self._until("haproxy", popen, servers_up)

    async def _start_prometheus(self) -> None:
        plan = self.plan
        rule_files = []
        if plan.rules_path is not None:
            rules = load_rules(plan.rules_path, plan.overrides.alert_for)
            self.rules = alert_names(rules)
            rules_file = self.run_dir.file(RULES_FILE)
            rules_file.write_text(yaml.safe_dump(rules, sort_keys=False))
            rule_files.append(rules_file)
        config = self.run_dir.file("prometheus.yml")
        jobs = {
            "haproxy": plan.ports.haproxy_metrics,
            "fault-proxy": plan.ports.proxy_control,
            "testbed-supervisor": plan.ports.supervisor,
            "prometheus": plan.ports.prometheus,
            "node": plan.ports.node_exporter,
        }
        config.write_text(
            prometheus_config(plan.host, self.run_dir.file("targets/pods.json"), jobs, rule_files)
        )
        popen = self._spawn(
            "prometheus", components.prometheus_command(plan, config, self.run_dir.file("tsdb"))
        )
        expected = len(jobs) + len(plan.ports.pods)
        url = plan.url(plan.ports.prometheus, "/api/v1/targets?state=active")

        async def targets_up() -> bool:
            up = await _targets_up(url)
            self._step("prometheus", "starting", f"{up}/{expected} targets up")
            return up == expected

        await self._until("prometheus", popen, targets_up)

    # -- stopping ----------------------------------------------------------------------------
    async def _shutdown(self, api: ControlServer) -> None:
        if self.phase != "failed":
            self.phase = "stopping"
        self._publish()
        self._stop.set()
        if self._supervision is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervision
        for name, popen, record in reversed(self._procs):
            await asyncio.to_thread(processes.stop, record)
            popen.poll()
            self.run_dir.forget_process(name)
        with contextlib.suppress(OSError):
            await api.stop()
        if self.phase != "failed":
            self.phase = "stopped"
        self._publish()
        self.run_dir.forget_process(DAEMON)

    def _log_tail(self, name: str) -> str:
        path = self.run_dir.log(name)
        try:
            lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        tail = " | ".join(lines[-LOG_TAIL_LINES:])
        return f" ({path}: {tail})" if tail else f" ({path} is empty)"


async def _http_ok(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def _targets_up(url: str) -> int:
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            response = await client.get(url)
        targets = response.json()["data"]["activeTargets"]
    except (httpx.HTTPError, ValueError, KeyError):
        return 0
    return sum(1 for t in targets if t.get("health") == "up")


def run(run_dir: Path) -> int:
    """Entry point of `python -m testbed daemon`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return asyncio.run(Daemon(RunDir(run_dir)).main())
