"""The testbed for real: Redis, HAProxy, Prometheus, the fault proxy and service pods on loopback.

One 3-pod testbed (short probe periods so each scenario takes seconds) serves the scenarios in
order; `down` gets a testbed of its own. Everything waits by polling with a deadline.
"""

from __future__ import annotations

import asyncio
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from prometheus_api_client import PrometheusConnect

from analysis.observed import BREAKER_OPEN
from chaos import processes
from chaos.manifest import ChaosManifest, load_manifest
from runner.executors.local import LocalExecutor
from runner.executors.testbed import local_executor
from testbed import lifecycle
from testbed.client import TestbedClient
from testbed.config import Overrides
from testbed.ports import port_in_use
from testbed.rundir import RunDir
from testbed.status import collect_status

pytestmark = pytest.mark.e2e

T = TypeVar("T")
PERIOD = 0.5
FALL = 3
SCHEDULE_DELAY = 1.0
STARTUP = 2.0
OVERRIDES = Overrides(
    replicas=3,
    probe_period=PERIOD,
    probe_failure_threshold=FALL,
    schedule_delay=SCHEDULE_DELAY,
    startup_time=STARTUP,
    alert_for=1.0,
)
POLL = 0.05
SLACK = 0.5
"""Allowance for polling and process scheduling on a busy 2-core machine."""


def poll(what: str, check: Callable[[], T | None], within: float) -> T:
    """Call `check` until it returns a truthy value; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(POLL)
    raise AssertionError(f"{what}: not within {within:g} s (last: {last!r})")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="module")
def testbed(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[TestbedClient]:
    run_dir = RunDir(tmp_path_factory.mktemp("testbed"))
    lifecycle.start(run_dir, lifecycle.UpOptions(overrides=OVERRIDES, artifacts=artifacts, seed=5))
    try:
        with TestbedClient(run_dir) as client:
            yield client
    finally:
        lifecycle.stop(run_dir)


@pytest.fixture(scope="module")
def executor(testbed: TestbedClient) -> LocalExecutor:
    return local_executor(testbed.run_dir, seed=9)


def write_manifest(tmp_path: Path, body: str) -> ChaosManifest:
    path = tmp_path / "chaos.yaml"
    path.write_text("apiVersion: chaos-mesh.org/v1alpha1\n" + body)
    return load_manifest(path)


def predict(client: TestbedClient, entity: str) -> dict[str, Any]:
    response = httpx.post(client.urls.service + "/predict", json={"entity_id": entity}, timeout=5.0)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def proxy_bytes(client: TestbedClient) -> float:
    text = client.get_text(client.urls.proxy_control + "/metrics")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("faultproxy_bytes_total{")
    )


def pod_in_slot(client: TestbedClient, slot: int) -> dict[str, Any]:
    return next(p for p in client.pods() if p["slot"] == slot)


def test_a_request_through_haproxy_gets_features_from_redis_through_the_proxy(testbed: TestbedClient) -> None:
    before = proxy_bytes(testbed)
    answers = [predict(testbed, str(entity)) for entity in range(1, 7)]
    assert {a["feature_source"] for a in answers} == {"store"}
    assert not any(a["fallback"] or a["degraded"] for a in answers)
    assert {a["pod"] for a in answers} == {p["name"] for p in testbed.pods()}
    assert proxy_bytes(testbed) > before

    prom = PrometheusConnect(url=testbed.urls.prometheus, disable_ssl=True)

    def every_target_up() -> list[dict[str, Any]] | None:
        series: list[dict[str, Any]] = prom.custom_query("up")
        return series if len(series) == 7 and all(s["value"][1] == "1" for s in series) else None

    series = poll("every Prometheus target up", every_target_up, 10)
    pods = {s["metric"]["pod"] for s in series if s["metric"]["job"] == "ml-prediction-service"}
    assert pods == {p["name"] for p in testbed.pods()}
    jobs = {s["metric"]["job"] for s in series}
    assert jobs == {"ml-prediction-service", "haproxy", "fault-proxy", "testbed-supervisor", "prometheus"}
    poll(
        "Redis (no exporter of its own) is seen through the supervisor",
        lambda: [s["value"][1] for s in prom.custom_query('testbed_process_up{component="redis"}')] == ["1"],
        5,
    )


def test_pod_kill_is_seen_by_haproxy_within_inter_x_fall_and_the_pod_is_recreated(
    testbed: TestbedClient, executor: LocalExecutor, tmp_path: Path
) -> None:
    manifest = write_manifest(
        tmp_path,
        """kind: PodChaos
metadata: {name: kill-one, namespace: chaos-testing}
spec:
  action: pod-kill
  mode: one
  selector: {namespaces: [ml-services], labelSelectors: {app: ml-prediction-service}}
""",
    )
    applying_at = time.monotonic()  # the pod is deleted after this ...
    status = executor.apply(manifest)
    killed_at = time.monotonic()  # ... and before this
    victim = status.records[0].id
    pods = testbed.pods()
    assert victim not in {p["name"] for p in pods}, "a deleted pod is gone at once"
    assert status.conditions["AllInjected"]
    replacement = next(p for p in pods if p["phase"] == "Pending")
    slot = replacement["slot"]
    poll(
        "HAProxy marks the killed pod's server DOWN",
        lambda: testbed.servers()[str(slot)].status == "DOWN",
        PERIOD * FALL + SLACK,
    )
    assert time.monotonic() - killed_at <= PERIOD * FALL + SLACK
    recreated_by = killed_at + SCHEDULE_DELAY + STARTUP + PERIOD + SLACK
    poll(
        "the replacement pod is ready within scheduleDelay + startupTime + one probe period",
        lambda: pod_in_slot(testbed, slot)["ready"],
        recreated_by - time.monotonic(),
    )
    assert time.monotonic() - applying_at >= SCHEDULE_DELAY + STARTUP, "scheduling and start-up take time"
    assert pod_in_slot(testbed, slot)["name"] == replacement["name"] != victim
    poll("HAProxy sends traffic to it again", lambda: testbed.servers()[str(slot)].up, PERIOD * 2 + SLACK)
    executor.recover("chaos-testing", "kill-one")


def test_pod_failure_keeps_the_pod_serving_nothing_until_its_duration_ends(
    testbed: TestbedClient, executor: LocalExecutor, tmp_path: Path
) -> None:
    duration = 3.0
    manifest = write_manifest(
        tmp_path,
        f"""kind: PodChaos
metadata: {{name: fail-one, namespace: chaos-testing}}
spec:
  action: pod-failure
  mode: one
  duration: {duration:g}s
  selector: {{namespaces: [ml-services], labelSelectors: {{app: ml-prediction-service}}}}
""",
    )
    restarts_before = {p["name"]: p["restarts"] for p in testbed.pods()}
    status = executor.apply(manifest)
    victim = status.records[0].id
    before = next(p for p in testbed.pods() if p["name"] == victim)
    slot, restarts = before["slot"], restarts_before[victim]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{before['port']}/ready", timeout=1.0)
    deadline = time.monotonic() + duration - SLACK
    while time.monotonic() < deadline:
        pod = pod_in_slot(testbed, slot)
        assert pod["name"] == victim, "a failed pod is not recreated"
        assert not pod["ready"] and pod["failure_injected"]
        time.sleep(0.2)
    assert pod_in_slot(testbed, slot)["restarts"] == restarts + 1
    poll("the duration ends the fault", lambda: status.conditions["AllRecovered"], 2 * SLACK)
    poll("the pod serves again", lambda: pod_in_slot(testbed, slot)["ready"], STARTUP + PERIOD + 2 * SLACK)
    pod = pod_in_slot(testbed, slot)
    assert pod["name"] == victim and pod["restarts"] == restarts + 2
    poll("HAProxy has it back", lambda: testbed.servers()[str(slot)].up, PERIOD * 2 + SLACK)


async def _timed_gets(url: str, connections: int, per_connection: int) -> list[float]:
    async def one(client: aioredis.Redis) -> list[float]:
        await client.ping()  # the connection's handshake commands are not part of the sample
        times = []
        for _ in range(per_connection):
            start = time.perf_counter()
            await client.get("chaoslab:probe")
            times.append(time.perf_counter() - start)
        return times

    clients = [aioredis.Redis.from_url(url, socket_timeout=5.0) for _ in range(connections)]
    try:
        results = await asyncio.gather(*(one(c) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    return [t for r in results for t in r]


def test_delay_with_jitter_has_the_asked_mean_and_spread_and_keeps_byte_order(
    testbed: TestbedClient, executor: LocalExecutor, tmp_path: Path
) -> None:
    baseline = statistics.fmean(asyncio.run(_timed_gets(testbed.urls.feature_store, 4, 25)))
    manifest = write_manifest(
        tmp_path,
        """kind: NetworkChaos
metadata: {name: slow-store, namespace: chaos-testing}
spec:
  action: delay
  mode: all
  direction: to
  delay: {latency: 200ms, jitter: 50ms}
  selector: {namespaces: [ml-services], labelSelectors: {app: feature-store}}
""",
    )
    executor.apply(manifest)
    try:
        samples = asyncio.run(_timed_gets(testbed.urls.feature_store, 12, 25))
        added = [s - baseline for s in samples]
        assert statistics.fmean(added) == pytest.approx(0.200, rel=0.10)
        assert statistics.stdev(added) == pytest.approx(0.050, rel=0.25)
        store = redis.Redis.from_url(testbed.urls.feature_store, socket_timeout=10.0)
        pipe = store.pipeline(transaction=False)
        for i in range(200):
            pipe.echo(f"message-{i:03d}-" + "x" * (i * 50))
        replies = pipe.execute()
        store.close()
        assert replies == [f"message-{i:03d}-".encode() + b"x" * (i * 50) for i in range(200)]
    finally:
        executor.recover("chaos-testing", "slow-store")
    assert testbed.faults() == []


def test_partition_opens_the_breaker_and_answers_come_from_cache_or_fallback(
    testbed: TestbedClient, executor: LocalExecutor, tmp_path: Path
) -> None:
    cached = [str(e) for e in range(100, 106)]
    assert all(predict(testbed, e)["feature_source"] == "store" for e in cached)
    manifest = write_manifest(
        tmp_path,
        """kind: NetworkChaos
metadata: {name: cut-store, namespace: chaos-testing}
spec:
  action: partition
  mode: all
  direction: both
  selector: {namespaces: [ml-services], labelSelectors: {app: feature-store}}
""",
    )
    executor.apply(manifest)
    try:
        answers = [predict(testbed, e) for e in cached * 6 + ["900001", "900002"]]
        sources = {a["feature_source"] for a in answers[-10:]}
        assert sources <= {"cache", "defaults"}, sources
        assert answers[-1]["feature_source"] == "defaults" and answers[-1]["fallback"]
        assert answers[-1]["fallback_reason"] == BREAKER_OPEN, "what the run's breaker_first_trip looks for"
        view = collect_status(testbed)
        assert {p.breaker for p in view.pods} == {"open"}
        assert [f["partition"] for f in view.faults] == ["blackhole"]
    finally:
        executor.recover("chaos-testing", "cut-store")


def test_an_alert_fires_while_pods_are_down_and_resolves_after(
    testbed: TestbedClient, executor: LocalExecutor, tmp_path: Path
) -> None:
    rules = testbed.status()["rules"]
    assert "MLServicePodsUnavailable" in rules
    prom = PrometheusConnect(url=testbed.urls.prometheus, disable_ssl=True)

    def firing() -> set[str]:
        return {
            s["metric"]["alertname"]
            for s in prom.custom_query('ALERTS{alertstate="firing"}')
            if s["value"][1] == "1"
        }

    assert "MLServicePodsUnavailable" not in firing()
    manifest = write_manifest(
        tmp_path,
        """kind: PodChaos
metadata: {name: fail-all, namespace: chaos-testing}
spec:
  action: pod-failure
  mode: fixed-percent
  value: "60"
  selector: {namespaces: [ml-services], labelSelectors: {app: ml-prediction-service}}
""",
    )
    status = executor.apply(manifest)
    assert len(status.records) == 2
    try:
        poll("MLServicePodsUnavailable fires", lambda: "MLServicePodsUnavailable" in firing(), 20)
    finally:
        executor.recover("chaos-testing", "fail-all")
    poll("every pod is ready again", lambda: all(p["ready"] for p in testbed.pods()), 10)
    poll("MLServicePodsUnavailable resolves", lambda: "MLServicePodsUnavailable" not in firing(), 20)


def test_down_leaves_no_process_and_no_port_behind_even_after_a_crash(
    tmp_path: Path, artifacts: Path
) -> None:
    run_dir = RunDir(tmp_path / "tb")
    options = lifecycle.UpOptions(overrides=Overrides(replicas=1, probe_period=PERIOD), artifacts=artifacts)
    plan = lifecycle.start(run_dir, options)
    records = run_dir.processes()
    assert {r.name for r in records} >= {"daemon", "redis", "fault-proxy", "haproxy", "prometheus"}
    assert all(processes.is_alive(r) for r in records)
    daemon = run_dir.daemon()
    assert daemon is not None
    processes.signal_group(daemon, signal.SIGKILL)
    poll("the daemon is dead", lambda: not processes.is_alive(daemon), 5)
    assert any(processes.is_alive(r) for r in records), "children outlive a crashed daemon"
    stopped = lifecycle.stop(run_dir)
    assert {r.pid for r in stopped} == {r.pid for r in records if r.name != "daemon"}
    assert not any(processes.is_alive(r) for r in records)
    assert not [p for p in plan.ports.all if port_in_use(p)]
    assert run_dir.processes() == []
