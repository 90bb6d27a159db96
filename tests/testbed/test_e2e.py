"""The testbed for real: Redis, HAProxy, Prometheus, the fault proxy and service pods on loopback.

One 3-pod testbed (short probe periods so each scenario takes seconds) serves the scenarios in
order; `down` gets a testbed of its own. Everything waits by polling with a deadline.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from prometheus_api_client import PrometheusConnect
from prometheus_client.parser import text_string_to_metric_families

from analysis.observed import BREAKER_OPEN
from analysis.signals import HOST_CPU
from chaos import processes
from chaos.manifest import ChaosManifest, load_manifest
from runner.executors.local import LocalExecutor
from runner.executors.testbed import local_executor
from runner.prediction import alert_interval
from runner.prometheus import PrometheusApi
from testbed import lifecycle
from testbed.client import TestbedClient
from testbed.config import SCRAPE_INTERVAL, Overrides
from testbed.faults import Delay
from testbed.ports import port_in_use
from testbed.rundir import RULES_FILE, RunDir
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


def ready_pod_in_slot(client: TestbedClient, slot: int) -> dict[str, Any] | None:
    pod = pod_in_slot(client, slot)
    return pod if pod["ready"] else None


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
        return series if len(series) == 8 and all(s["value"][1] == "1" for s in series) else None

    series = poll("every Prometheus target up", every_target_up, 10)
    pods = {s["metric"]["pod"] for s in series if s["metric"]["job"] == "ml-prediction-service"}
    assert pods == {p["name"] for p in testbed.pods()}
    jobs = {s["metric"]["job"] for s in series}
    assert jobs == {
        "ml-prediction-service",
        "haproxy",
        "fault-proxy",
        "testbed-supervisor",
        "prometheus",
        "node",
    }

    def machine_cpu() -> list[dict[str, Any]] | None:  # the query a run records of its host
        shares: list[dict[str, Any]] = prom.custom_query(HOST_CPU)
        return shares if {s["metric"]["mode"] for s in shares} == {"idle", "steal"} else None

    shares = poll("the machine's CPU shares from the node exporter", machine_cpu, 10)
    assert all(0.0 <= float(s["value"][1]) <= 1.0 for s in shares)
    poll(
        "Redis (no exporter of its own) is seen through the supervisor",
        lambda: [s["value"][1] for s in prom.custom_query('testbed_process_up{component="redis"}')] == ["1"],
        5,
    )


def test_the_runner_reads_how_often_prometheus_evaluates_the_rules(testbed: TestbedClient) -> None:
    prometheus = PrometheusApi(testbed.urls.prometheus)
    try:
        rules = testbed.run_dir.file(RULES_FILE)
        group = ["ml-prediction-service"]
        poll("the rule group's interval reported", lambda: prometheus.rule_interval(group), 15)
        assert prometheus.rule_interval(group) == SCRAPE_INTERVAL
        assert prometheus.rule_interval(["no-such-group"]) is None
        # Prometheus accepts the escaped names, and a dot matches only a dot
        assert prometheus.rule_interval(["ml-prediction.service", 'a"b']) is None
        assert alert_interval(prometheus, rules) == 1
    finally:
        prometheus.close()


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
    status = executor.apply(manifest)
    killed_at = time.monotonic()  # the pod was deleted before this
    victim = status.records[0].id
    pods = testbed.pods()
    assert victim not in {p["name"] for p in pods}, "a deleted pod is gone at once"
    assert status.conditions["AllInjected"]
    replacement = next(p for p in pods if p["phase"] == "Pending")
    slot = replacement["slot"]
    poll(
        "HAProxy marks the killed pod's server DOWN within inter x fall",
        lambda: testbed.servers()[str(slot)].status == "DOWN",
        killed_at + PERIOD * FALL + SLACK - time.monotonic(),
    )
    recreated_by = killed_at + SCHEDULE_DELAY + STARTUP + PERIOD + SLACK
    ready = poll(
        "the replacement pod is ready within scheduleDelay + startupTime + one probe period",
        lambda: ready_pod_in_slot(testbed, slot),
        recreated_by - time.monotonic(),
    )
    assert ready["name"] == replacement["name"] != victim
    # Not ready early, by the supervisor's own record: the replacement, created as the victim was
    # deleted, stays Pending for scheduleDelay, and passes /ready startupTime after its container
    # started at the earliest.
    assert ready["created_at"] == replacement["created_at"]
    assert ready["started_at"] - ready["created_at"] >= SCHEDULE_DELAY
    assert ready["ready_since"] - ready["started_at"] >= STARTUP
    # and the daemon's log times the probe that made it ready from its container's start
    line = poll(
        "the daemon logs the replacement's readiness",
        lambda: next(
            (
                x
                for x in testbed.run_dir.log("daemon").read_text().splitlines()
                if f"pod {ready['name']}: ready on the readiness probe sent" in x
            ),
            None,
        ),
        SLACK,
    )
    since = float(line.split("sent ")[1].split(" s after")[0])
    assert STARTUP <= since <= STARTUP + PERIOD + 0.001
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
    recovered_by = time.monotonic() + duration + SLACK
    during: list[dict[str, Any]] = [before]

    def recovered() -> dict[str, Any] | None:
        pod = pod_in_slot(testbed, slot)
        if pod["failure_injected"]:
            during.append(pod)
            return None
        return pod

    back = poll("the duration ends the fault", recovered, recovered_by - time.monotonic())
    poll(
        "the executor records that the duration ended it",
        lambda: [why for _, why in status.events][1:] == ["duration elapsed"],
        recovered_by - time.monotonic(),
    )
    assert status.conditions["AllRecovered"]
    (injected_at, _), (ended_at, _) = status.events
    assert ended_at - injected_at >= duration
    # while the fault lasted the pod kept its name and served nothing; it was not recreated
    seen = {(p["name"], p["ready"], p["failure_injected"], p["restarts"]) for p in during}
    assert seen == {(victim, False, True, restarts + 1)}
    # ... and it lasted its duration, by the supervisor's record: the pause container started at
    # the injection, the service's container again at the recovery
    assert back["name"] == victim
    assert back["started_at"] - before["started_at"] >= duration
    poll("the pod serves again", lambda: ready_pod_in_slot(testbed, slot), STARTUP + PERIOD + 2 * SLACK)
    pod = pod_in_slot(testbed, slot)
    assert pod["name"] == victim and pod["restarts"] == restarts + 2
    assert pod["started_at"] == back["started_at"]
    assert pod["ready_since"] - pod["started_at"] >= STARTUP  # the start-up time holds after recovery too
    poll("HAProxy has it back", lambda: testbed.servers()[str(slot)].up, PERIOD * 2 + SLACK)


async def _timed_gets(
    url: str, connections: int, per_connection: int, between: Callable[[], None] = lambda: None
) -> list[float]:
    """GET times on `connections` connections; `between` runs once all are open, before the GETs."""

    async def one(client: aioredis.Redis) -> list[float]:
        times = []
        for _ in range(per_connection):
            start = time.perf_counter()
            await client.get("chaoslab:probe")
            times.append(time.perf_counter() - start)
        return times

    clients = [aioredis.Redis.from_url(url, socket_timeout=5.0) for _ in range(connections)]
    try:
        await asyncio.gather(*(c.ping() for c in clients))  # the handshakes are not part of the sample
        between()
        results = await asyncio.gather(*(one(c) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    return [t for r in results for t in r]


def held_replies(client: TestbedClient) -> tuple[float, float, dict[float, float]]:
    """The fault proxy's own record of how long it held the store's replies: the count, the sum of
    the seconds and the cumulative histogram buckets of faultproxy_injected_delay_seconds."""
    count, total, buckets = 0.0, 0.0, {}
    for family in text_string_to_metric_families(client.get_text(client.urls.proxy_control + "/metrics")):
        if family.name != "faultproxy_injected_delay_seconds":
            continue
        for s in family.samples:
            if s.labels.get("direction") != "to":
                continue
            if s.name.endswith("_count"):
                count = s.value
            elif s.name.endswith("_sum"):
                total = s.value
            elif s.name.endswith("_bucket"):
                buckets[float(s.labels["le"])] = s.value
    return count, total, buckets


def test_delay_with_jitter_has_the_asked_mean_and_spread_and_keeps_byte_order(
    testbed: TestbedClient, executor: LocalExecutor, tmp_path: Path
) -> None:
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
        assert [(f.direction, f.delay) for f in testbed.faults()] == [("to", Delay(0.2, 0.05))]
        marks: list[tuple[float, float, dict[float, float]]] = []
        url = testbed.urls.feature_store
        samples = asyncio.run(_timed_gets(url, 12, 25, between=lambda: marks.append(held_replies(testbed))))
        count, total, buckets = held_replies(testbed)
        ((count_before, total_before, buckets_before),) = marks
        held, seconds = count - count_before, total - total_before
        assert held == len(samples) == 300, "the proxy held each GET's reply, once"
        assert seconds / held == pytest.approx(0.200, rel=0.10)

        # A normal delay puts 68.3 % of the replies within one jitter (50 ms) of the latency; for a
        # standard deviation 25 % smaller or larger that share is 81.8 % or 57.6 %.
        in_window = (buckets[0.25] - buckets_before[0.25]) - (buckets[0.15] - buckets_before[0.15])
        within = in_window / held
        assert 0.576 <= within <= 0.818, within
        # the delay is on the wire: no reply reached the client before the proxy let it go
        assert sum(samples) >= seconds
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
