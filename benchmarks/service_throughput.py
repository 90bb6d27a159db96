"""Throughput of one prediction pod with zero model service time: requests/s per core.

Starts a throw-away redis-server (loaded with the data set) and one pod process
(`python -m service serve`) on free loopback ports, with the project's system profile changed to a
zero service time and enough slots that the pod is bound by its own CPU, not by the waited service
time. Then sends a fixed number of /predict requests over keep-alive connections and prints the
pod's throughput, the CPU seconds it used (from /proc), and requests per CPU-second of the pod,
i.e. requests/s per core. Two runs: features from the store (the normal path) and features in the
request (no Redis call). Prints figures; asserts nothing about time.

    .venv/bin/python benchmarks/service_throughput.py [--requests 3000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.dataset import feature_names, load_dataset  # noqa: E402
from service.feature_store import load_features  # noqa: E402
from service.training import train  # noqa: E402

START_DEADLINE = 30.0
RUN_DEADLINE = 120.0  # a run stops sending after this long, whatever the request count
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/PID/stat (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(check: Any, what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with status {process.returncode}")
        try:
            if check():
                return
        except (OSError, redis.RedisError, httpx.TransportError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not come up within {START_DEADLINE} s")
        time.sleep(0.02)


def zero_service_time_profile(directory: Path, slots: int) -> Path:
    doc = yaml.safe_load((ROOT / "experiments" / "system.yaml").read_text())
    service = doc["spec"]["service"]
    service["serviceTime"] = {"distribution": "constant", "mean": "0s", "cv": 0}
    service["concurrency"] = slots
    service["maxQueue"] = slots
    path = directory / "system.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def drive(port: int, bodies: list[dict[str, Any]], concurrency: int) -> tuple[int, int, list[float]]:
    """Send every body once from `concurrency` workers; returns (ok, failed, latencies)."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    failed = 0
    stop_at = time.monotonic() + RUN_DEADLINE
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failed
        while not queue.empty() and time.monotonic() < stop_at:
            body = queue.get_nowait()
            start = time.perf_counter()
            response = await client.post("/predict", json=body)
            if response.status_code == 200:
                latencies.append(time.perf_counter() - start)
            else:
                failed += 1

    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10.0) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return len(latencies), failed, latencies


def run(
    label: str, pod: subprocess.Popen[bytes], port: int, bodies: list[dict[str, Any]], concurrency: int
) -> None:
    warmup = bodies[: max(1, len(bodies) // 10)]
    asyncio.run(drive(port, warmup, concurrency))
    cpu0, t0 = cpu_seconds(pod.pid), time.perf_counter()
    ok, failed, latencies = asyncio.run(drive(port, bodies, concurrency))
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pod.pid) - cpu0
    p50, p95 = (np.percentile(latencies, [50, 95]) * 1000) if latencies else (float("nan"), float("nan"))
    print(
        f"{label:<18} {ok:>6} ok {failed:>4} failed  {ok / wall:>7.0f} req/s  pod CPU {cpu:5.2f} s "
        f"({cpu / wall:4.2f} cores)  {ok / cpu if cpu else float('nan'):>7.0f} req/s per core  "
        f"latency p50 {p50:5.1f} ms p95 {p95:5.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    redis_binary = shutil.which("redis-server")
    if redis_binary is None:
        raise SystemExit("redis-server is missing: run scripts/setup.sh")

    with tempfile.TemporaryDirectory(prefix="chaoslab-bench-") as tmp:
        work = Path(tmp)
        train(work / "artifacts")
        redis_port, pod_port = free_port(), free_port()
        url = f"redis://127.0.0.1:{redis_port}/0"
        store = subprocess.Popen(
            [redis_binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(work)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        pod: subprocess.Popen[bytes] | None = None
        try:
            probe = redis.Redis.from_url(url, socket_timeout=1)
            wait_until(probe.ping, "redis-server", store)
            probe.close()
            ids, features, _ = load_dataset()
            names = feature_names()
            load_features(url, ids, features, names)
            profile = zero_service_time_profile(work, slots=args.concurrency)
            started = time.perf_counter()
            pod = subprocess.Popen(
                [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(pod_port),
                 "--pod-name", "bench-0", "--profile", str(profile), "--redis-url", url,
                 "--artifacts", str(work / "artifacts"), "--log-level", "WARNING"],
                cwd=ROOT,
                env=dict(os.environ, CHAOS_ENABLED="false"),
            )  # fmt: skip
            ready = httpx.Client(base_url=f"http://127.0.0.1:{pod_port}", timeout=1.0)
            wait_until(lambda: ready.get("/ready").status_code == 200, "the pod", pod)
            ready.close()
            spawn_to_ready = time.perf_counter() - started
            print(f"pod ready {spawn_to_ready:.2f} s after spawn; machine has {os.cpu_count()} cores")
            rng = np.random.default_rng(0)
            picks = rng.integers(0, len(ids), size=args.requests)
            by_store = [{"entity_id": ids[i]} for i in picks]
            in_request = [
                {"entity_id": ids[i], "features": dict(zip(names, map(float, features[i]), strict=True))}
                for i in picks
            ]
            run("features: store", pod, pod_port, by_store, args.concurrency)
            run("features: request", pod, pod_port, in_request, args.concurrency)
        finally:
            if pod is not None:
                stop(pod)
            stop(store)


if __name__ == "__main__":
    main()
