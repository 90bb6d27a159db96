"""How much load the 10-pod testbed holds, and what HAProxy and the fault proxy add to latency.

Starts its own testbed (the profile's replicas, default 10) in a temporary run directory, then:
1. latency of sequential requests straight to a pod vs through HAProxy, and of Redis GETs
   straight to Redis vs through the fault proxy (medians, p95, ratios);
2. Locust (headless, on this machine) at increasing request rates: the highest rate whose p95
   stays under twice the low-load p95 with under 1 % failures and the rate actually reached;
   per rate also the pods' mean feature-store call time and the share of the pods' model slots
   held (rate x (mean service time + store time) / (replicas x concurrency)), from the pods' own
   metrics.
Step 2 runs once per `--concurrency` value, each on a fresh testbed. The first pass keeps the
profile's slots per pod, whose fixed capacity (replicas x concurrency / service time) bounds the rate
whatever the CPU: that is the modelled service's limit. The second gives each pod enough slots that
the emulated model is not the limit, so the rate it holds is the testbed's own (the >= 600 req/s
target). Prints figures; asserts nothing. Stops each testbed whatever happens.

    .venv/bin/python benchmarks/testbed_throughput.py [--rates 200,400,600,700] [--step 15]
        [--concurrency profile,4]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from chaos.system import SystemProfile
from testbed import lifecycle
from testbed.client import TestbedClient
from testbed.config import Overrides
from testbed.rundir import RunDir

LOW_LOAD_RPS = 50.0
RATE_PER_USER = 5.0
"""Each Locust user paces itself to this many requests per second (constant_throughput)."""
MAX_FAILURE_SHARE = 0.01
MIN_REACHED_SHARE = 0.95
SEQUENTIAL_SAMPLES = 300
ENTITIES = 1000
TARGET_RPS = 600.0
UNBOUND_CONCURRENCY = 4
"""Slots per pod for the second pass: 10 x 4 / 30 ms = 1333 req/s of emulated model capacity, so what
limits that pass is the testbed (CPU for pods, HAProxy, proxy, Prometheus and Locust), not the profile."""

LOCUSTFILE = """
import os
import resource
import random

from locust import FastHttpUser, constant_throughput, task


class Predict(FastHttpUser):
    wait_time = constant_throughput(float(os.environ["BENCH_RATE_PER_USER"]))

    @task
    def predict(self):
        entity = str(random.randint(1, int(os.environ["BENCH_ENTITIES"])))
        self.client.post("/predict", json={"entity_id": entity}, name="/predict")
"""


@dataclass(frozen=True)
class Step:
    target: float
    reached: float
    requests: float
    p50_ms: float
    p95_ms: float
    failures: float


def cpu_seconds(run_dir: RunDir) -> dict[str, float]:
    """CPU time used so far by each kind of testbed process (pods summed), plus Locust (our children)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for record in run_dir.processes():
        try:
            fields = Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = "pods" if record.name.startswith("pod-") else record.name
        used[kind] = used.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    used["locust"] = children.ru_utime + children.ru_stime
    return used


def store_calls(client: TestbedClient) -> tuple[float, float]:
    """Seconds spent in feature-store calls and their number, summed over the pods (all results)."""
    seconds = calls = 0.0
    for port in client.plan.ports.pods:
        text = client.get_text(client.plan.url(port, "/metrics"))
        for family in text_string_to_metric_families(text):
            if family.name == "mlservice_feature_store_duration_seconds":
                for sample in family.samples:
                    if sample.name.endswith("_sum"):
                        seconds += sample.value
                    elif sample.name.endswith("_count"):
                        calls += sample.value
    return seconds, calls


def slot_capacity(profile: SystemProfile) -> float:
    """Requests per second the pods' model slots serve at most (feature-store time aside)."""
    service = profile.service
    return service.replicas * service.concurrency / service.service_time.mean


def slots_busy(profile: SystemProfile, rate: float, store_seconds: float) -> float:
    """Share of the pods' model slots held at `rate`: each request holds one for its store call and
    its service time (queueing aside)."""
    service = profile.service
    held = service.service_time.mean + store_seconds
    return rate * held / (service.replicas * service.concurrency)


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_http(url: str, n: int) -> list[float]:
    times = []
    with httpx.Client(timeout=5.0) as client:
        for i in range(n):
            start = time.perf_counter()
            client.post(url, json={"entity_id": str(i % ENTITIES + 1)}).raise_for_status()
            times.append(time.perf_counter() - start)
    return times


def time_redis(url: str, n: int) -> list[float]:
    client = redis.Redis.from_url(url, socket_timeout=5.0)
    client.ping()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        client.get("chaoslab:benchmark")
        times.append(time.perf_counter() - start)
    client.close()
    return times


def locust_step(host: str, rps: float, seconds: int, workdir: Path) -> Step:
    users = max(1, round(rps / RATE_PER_USER))
    locustfile = workdir / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    prefix = workdir / f"step-{int(rps)}"
    env = {**os.environ, "BENCH_RATE_PER_USER": str(rps / users), "BENCH_ENTITIES": str(ENTITIES)}
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--host", host,
        "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--csv", str(prefix),
        "--only-summary", "--exit-code-on-error", "0", "--loglevel", "WARNING",
    ]  # fmt: skip
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with (prefix.parent / f"{prefix.name}_stats.csv").open() as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    count = float(row["Request Count"])
    return Step(
        target=rps,
        reached=float(row["Requests/s"]),
        requests=count,
        p50_ms=float(row["50%"]),
        p95_ms=float(row["95%"]),
        failures=float(row["Failure Count"]) / count if count else 1.0,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates", default="200,300,400,500,600,700,800", help="request rates to try, ascending"
    )
    parser.add_argument("--step", type=int, default=15, help="seconds per rate")
    parser.add_argument(
        "--concurrency",
        default=f"profile,{UNBOUND_CONCURRENCY}",
        help="model slots per pod, one pass each ('profile' = the profile's own value)",
    )
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    passes = [None if c == "profile" else int(c) for c in args.concurrency.split(",")]
    held: list[tuple[int, float, float]] = []
    for i, concurrency in enumerate(passes):
        with tempfile.TemporaryDirectory(prefix="chaoslab-bench-") as tmp:
            run_dir = RunDir(Path(tmp) / "testbed")
            started = time.monotonic()
            options = lifecycle.UpOptions(overrides=Overrides(concurrency=concurrency))
            plan = lifecycle.start(run_dir, options)
            try:
                profile = plan.profile()
                service = profile.service
                print(
                    f"\n=== pass {i + 1}: {service.concurrency} model slots per pod"
                    f"{' (the profile)' if concurrency is None else ''} ==="
                )
                print(f"testbed up with {len(plan.ports.pods)} pods in {time.monotonic() - started:.1f} s")
                with TestbedClient(run_dir) as client:
                    if i == 0:
                        report_overheads(client)
                    best = report_throughput(client, rates, args.step, Path(tmp), run_dir)
                held.append((service.concurrency, slot_capacity(profile), best))
            finally:
                lifecycle.stop(run_dir)
    print("\nhighest rate held (p95 < 2 x low-load p95, < 1 % failures, >= 95 % of the rate reached):")
    for concurrency, capacity, best in held:
        print(
            f"  {concurrency} slots per pod (slot capacity {capacity:.0f} req/s): {best:.0f} requests/s"
            f"{'  <- the testbed itself; target >= 600' if capacity >= 2 * TARGET_RPS else ''}"
        )
    return 0


def report_overheads(client: TestbedClient) -> None:
    pod_port = client.plan.ports.pods[0]
    direct = time_http(client.plan.url(pod_port, "/predict"), SEQUENTIAL_SAMPLES)
    balanced = time_http(client.urls.service + "/predict", SEQUENTIAL_SAMPLES)
    redis_direct = time_redis(client.urls.redis_direct, SEQUENTIAL_SAMPLES)
    redis_proxied = time_redis(client.urls.feature_store, SEQUENTIAL_SAMPLES)
    print(f"\nsequential latency, {SEQUENTIAL_SAMPLES} requests each (median / p95, ms):")
    for name, samples in (
        ("pod direct", direct),
        ("through HAProxy", balanced),
        ("Redis direct", redis_direct),
        ("Redis through fault proxy", redis_proxied),
    ):
        print(f"  {name:<27} {statistics.median(samples) * 1e3:7.2f} / {quantile(samples, 0.95) * 1e3:7.2f}")
    median_ratio = statistics.median(balanced) / statistics.median(direct)
    p95_ratio = quantile(balanced, 0.95) / quantile(direct, 0.95)
    print(f"  ratio HAProxy / direct pod:        median {median_ratio:.3f}, p95 {p95_ratio:.3f}")
    print(
        f"  ratio proxied / direct Redis GET:  median "
        f"{statistics.median(redis_proxied) / statistics.median(redis_direct):.3f}"
        f" (+{(statistics.median(redis_proxied) - statistics.median(redis_direct)) * 1e3:.2f} ms)"
    )


def report_throughput(
    client: TestbedClient, rates: list[float], seconds: int, workdir: Path, run_dir: RunDir
) -> float:
    host = client.urls.service
    profile = client.plan.profile()
    service = profile.service
    capacity = slot_capacity(profile)
    print(
        f"\npods' slot capacity: {service.replicas} pods x {service.concurrency} slots / "
        f"{service.service_time.mean * 1e3:g} ms mean service time = {capacity:.0f} requests/s "
        "before feature-store time"
    )
    low = locust_step(host, LOW_LOAD_RPS, seconds, workdir)
    limit = 2 * low.p95_ms
    print(f"\nLocust, {seconds} s per rate; low load {LOW_LOAD_RPS:g} rps:", end=" ")
    print(f"p95 {low.p95_ms:g} ms -> limit {limit:g} ms")
    print(
        f"  {'target rps':>10} {'reached':>8} {'p50 ms':>7} {'p95 ms':>7} {'failures':>8}"
        f" {'store ms':>8} {'slots busy':>10}  holds"
    )
    best = 0.0
    cpu: dict[str, float] = {}
    requests = 0.0
    for rps in rates:
        before, store_before = cpu_seconds(run_dir), store_calls(client)
        step = locust_step(host, rps, seconds, workdir)
        after, store_after = cpu_seconds(run_dir), store_calls(client)
        for kind, used in after.items():
            cpu[kind] = cpu.get(kind, 0.0) + used - before.get(kind, 0.0)
        requests += step.requests
        calls = store_after[1] - store_before[1]
        store = (store_after[0] - store_before[0]) / calls if calls else float("nan")
        holds = (
            step.p95_ms < limit
            and step.failures < MAX_FAILURE_SHARE
            and step.reached >= MIN_REACHED_SHARE * step.target
        )
        print(
            f"  {step.target:10.0f} {step.reached:8.1f} {step.p50_ms:7.0f} {step.p95_ms:7.0f}"
            f" {step.failures:8.2%} {store * 1e3:8.2f} {slots_busy(profile, step.reached, store):10.0%}"
            f"  {'yes' if holds else 'no'}"
        )
        if not holds:
            break
        best = step.reached
    if requests:
        print(f"\nCPU per request during those steps (ms; the machine has {os.cpu_count()} cores):")
        for kind, used in sorted(cpu.items(), key=lambda kv: -kv[1]):
            print(f"  {kind:<20} {used / requests * 1e3:6.2f}")
        total = sum(cpu.values()) / requests
        print(
            f"  {'total':<20} {total * 1e3:6.2f}  -> at most ~{(os.cpu_count() or 1) / total:.0f} requests/s"
        )
    return best


if __name__ == "__main__":
    sys.exit(main())
