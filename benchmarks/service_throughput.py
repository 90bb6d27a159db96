"""CPU per request of one prediction pod: saturated with zero service time, and paced as on the testbed.

Starts a throw-away redis-server (loaded with the data set) and one pod process
(`python -m service serve`) on free loopback ports, then measures three runs over keep-alive
connections, each with the CPU time the pod used (from /proc) per answered request:

- `saturated: store` / `saturated: request`: the system profile changed to a zero service time and
  enough slots that the pod is bound by its own CPU; features from the store (the normal path) or
  in the request (no Redis call). Requests/s per core = 1 / CPU per request.
- `paced: testbed`: the profile as it is (service time, slots, queue), requests sent at a fixed rate
  (default: the pod's share of 600 requests/s over the profile's replicas) over a few connections,
  as HAProxy sends them on the testbed. A pod that mostly waits pays for every wake-up of its event
  loop with cold caches, so this CPU per request is the one that bounds the testbed. Several rates
  (`--rate 20,40,67`) run one after another on the same pod; with `--paced-slots N` the pod has N
  slots, so that no request waits for one and the latency is the time inside the pod alone, to see
  whether it grows with the pod's rate.

The client writes pre-encoded HTTP/1.1 requests and reads answers by Content-Length, so that it,
not the pod, stays cheap. Prints figures; asserts nothing about time.

    .venv/bin/python benchmarks/service_throughput.py [--requests 6000] [--concurrency 8]
        [--rate 60[,90,...]] [--paced-slots N] [--seconds 30] [--connections 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chaos.system import load_system_profile  # noqa: E402
from service.dataset import feature_names, load_dataset  # noqa: E402
from service.feature_store import load_features  # noqa: E402
from service.training import train  # noqa: E402

START_DEADLINE = 30.0
RUN_DEADLINE = 120.0  # a run stops sending after this long, whatever the request count
ANSWER_DEADLINE = 10.0  # one answer; a pod that takes longer is broken, not slow
TESTBED_TARGET_RPS = 600.0  # issue 5's throughput target for the whole testbed
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


def write_profile(directory: Path, slots: int | None, zero_service: bool = True) -> Path:
    """The project's system profile; with `slots`, that many slots and queue, and zero service time
    unless not `zero_service`."""
    doc = yaml.safe_load((ROOT / "experiments" / "system.yaml").read_text())
    name = "system.yaml"
    if slots is not None:
        service = doc["spec"]["service"]
        if zero_service:
            service["serviceTime"] = {"distribution": "constant", "mean": "0s", "cv": 0}
        service["concurrency"] = slots
        service["maxQueue"] = slots
        name = "system-zero.yaml" if zero_service else f"system-{slots}-slots.yaml"
    path = directory / name
    path.write_text(yaml.safe_dump(doc))
    return path


def http_request(body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one request on a keep-alive connection and read its answer; returns the status code."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def connection(port: int, requests: list[bytes], first: float, interval: float, tally: Tally) -> None:
    """Send `requests` in turn on one connection, the k-th not before `first + k * interval`."""
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + RUN_DEADLINE
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for k, request in enumerate(requests):
            due = first + k * interval
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if loop.time() > stop_at:
                break
            start = time.perf_counter()
            async with asyncio.timeout(ANSWER_DEADLINE):
                status = await exchange(reader, writer, request)
            if status == 200:
                tally.ok += 1
                tally.latencies.append(time.perf_counter() - start)
            else:
                tally.failed += 1
    finally:
        writer.close()
        await writer.wait_closed()


async def drive(port: int, requests: list[bytes], connections: int, rate: float | None) -> Tally:
    """Send every request once over `connections` connections, as fast as answered or at `rate`."""
    tally = Tally()
    interval = connections / rate if rate else 0.0
    first = asyncio.get_running_loop().time() + 0.05
    await asyncio.gather(
        *(
            connection(port, requests[i::connections], first + i * interval / connections, interval, tally)
            for i in range(connections)
        )
    )
    return tally


def run(label: str, pod: int, port: int, requests: list[bytes], connections: int, rate: float | None) -> None:
    warmup = requests[: max(1, len(requests) // 10)]
    asyncio.run(drive(port, warmup, connections, rate))
    cpu0, t0 = cpu_seconds(pod), time.perf_counter()
    tally = asyncio.run(drive(port, requests, connections, rate))
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pod) - cpu0
    latencies = tally.latencies or [float("nan")]
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    mean = float(np.mean(latencies)) * 1000
    per_request = cpu / tally.ok if tally.ok else float("nan")
    print(
        f"{label:<19} {tally.ok:>6} ok {tally.failed:>4} failed {tally.ok / wall:>7.0f} req/s  "
        f"pod CPU {cpu:5.2f} s ({cpu / wall:4.2f} cores) = {per_request * 1e3:5.2f} ms per request "
        f"({1 / per_request if per_request else float('nan'):5.0f} req/s per core)  "
        f"latency mean {mean:5.2f} ms p50 {p50:5.1f} ms p95 {p95:5.1f} ms"
    )


def start_pod(port: int, profile: Path, url: str, artifacts: Path) -> subprocess.Popen[bytes]:
    started = time.perf_counter()
    pod = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--pod-name", "bench-0", "--profile", str(profile), "--redis-url", url,
         "--artifacts", str(artifacts), "--log-level", "WARNING"],
        cwd=ROOT,
        env=dict(os.environ, CHAOS_ENABLED="false"),
    )  # fmt: skip
    ready = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=1.0)
    wait_until(lambda: ready.get("/ready").status_code == 200, "the pod", pod)
    ready.close()
    print(f"pod ready {time.perf_counter() - started:.2f} s after spawn ({profile.name})")
    return pod


def _rates(text: str) -> list[float]:
    try:
        rates = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rate {text!r}: comma-separated numbers expected") from None
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError(f"--rate {text!r}: every rate must be above 0")
    return rates


def main() -> None:
    profile = load_system_profile(ROOT / "experiments" / "system.yaml")
    pod_share = TESTBED_TARGET_RPS / profile.service.replicas
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000, help="requests of each saturated run")
    parser.add_argument("--concurrency", type=int, default=8, help="connections of the saturated runs")
    parser.add_argument(
        "--rate",
        type=_rates,
        default=[pod_share],
        help="requests/s of the paced run; several, comma-separated, run one after another on one pod",
    )
    parser.add_argument(
        "--paced-slots",
        type=int,
        default=None,
        help="model slots of the paced pod (default: the profile's); enough that no request waits "
        "for one, and the latency is the time inside the pod alone, which shows whether it grows "
        "with the pod's rate",
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the paced run")
    parser.add_argument("--connections", type=int, default=4, help="connections of the paced run")
    args = parser.parse_args()
    redis_binary = shutil.which("redis-server")
    if redis_binary is None:
        raise SystemExit("redis-server is missing: run scripts/setup.sh")
    print(f"machine has {os.cpu_count()} cores")

    with tempfile.TemporaryDirectory(prefix="chaoslab-bench-") as tmp:
        work = Path(tmp)
        train(work / "artifacts")
        redis_port = free_port()
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
            rng = np.random.default_rng(0)
            paced_count = max(1, round(max(args.rate) * args.seconds))
            picks = rng.integers(0, len(ids), size=max(args.requests, paced_count))
            by_store = [http_request({"entity_id": ids[i]}) for i in picks]
            in_request = [
                http_request(
                    {"entity_id": ids[i], "features": dict(zip(names, map(float, features[i]), strict=True))}
                )
                for i in picks[: args.requests]
            ]

            port = free_port()
            pod = start_pod(port, write_profile(work, args.concurrency), url, work / "artifacts")
            run("saturated: store", pod.pid, port, by_store[: args.requests], args.concurrency, None)
            run("saturated: request", pod.pid, port, in_request, args.concurrency, None)
            stop(pod)

            port = free_port()
            paced = write_profile(work, args.paced_slots, zero_service=False)
            pod = start_pod(port, paced, url, work / "artifacts")
            slots = "profile as it is" if args.paced_slots is None else f"{args.paced_slots} slots"
            for rate in args.rate:
                count = max(1, round(rate * args.seconds))
                print(f"paced at {rate:g} req/s over {args.connections} connections ({slots}):")
                run(f"paced: {rate:g} req/s", pod.pid, port, by_store[:count], args.connections, rate)
        finally:
            if pod is not None:
                stop(pod)
            stop(store)


if __name__ == "__main__":
    main()
