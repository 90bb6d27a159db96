"""Requests per second one Locust process sustains with the load harness, with and without recording.

    .venv/bin/python benchmarks/load_throughput.py [--seconds 6] [--users 20] [--repeats 3]

A trivial endpoint (an asyncio HTTP/1.1 server in its own process, answering /predict like the
service) takes the load, so that the figure is the load generator's. Locust runs `load/` for one
phase at a rate no user can reach (users never wait), alternately without and with
CHAOSLAB_RECORD_DIR. The rate is Locust's own: requests over the time between its first and last
request. The target is a recorder overhead of at most 10 %; this script prints, it does not judge.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOAD_DIR = ROOT / "load"
UNREACHABLE_RPS = 1_000_000  # every user sends its next request as soon as the last one is answered
ANSWER = {
    "prediction": 1,
    "probability": 0.9,
    "model_version": "v1",
    "feature_source": "store",
    "fallback": False,
    "fallback_reason": None,
    "degraded": False,
    "pod": "bench-0",
}


class PredictEndpoint(asyncio.Protocol):
    """Keep-alive HTTP/1.1: reads each request's body, answers with the entity id echoed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length = 0
            for line in self.buffer[:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            body, self.buffer = self.buffer[head_end + 4 : end], self.buffer[end:]
            entity_id = json.loads(body)["entity_id"]
            payload = json.dumps({"entity_id": entity_id, **ANSWER}).encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(payload)).encode()
                + b"\r\n\r\n"
                + payload
            )


def serve(ports: Any) -> None:
    """Run the endpoint on a free loopback port (sent back through `ports`) until terminated."""

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(PredictEndpoint, "127.0.0.1", 0)
        ports.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def run_locust(url: str, seconds: float, users: int, record_dir: Path | None, work: Path) -> float:
    """Requests per second of one headless Locust process running load/ for `seconds`."""
    stats = work / f"stats-{time.monotonic_ns()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOSLAB_")}
    env.update(
        CHAOSLAB_PHASES=f"bench={seconds:g}s",
        CHAOSLAB_RPS=str(UNREACHABLE_RPS),
        CHAOSLAB_USERS=str(users),
        PYTHONUNBUFFERED="1",
    )
    if record_dir is not None:
        env["CHAOSLAB_RECORD_DIR"] = str(record_dir)
    argv = [sys.executable, "-m", "locust", "-f", str(LOAD_DIR), "--headless", "--host", url]
    argv += ["--json-file", str(stats), "--only-summary", "--exit-code-on-error", "0"]
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(f"locust exited with {done.returncode}: {done.stderr[-2000:]}")
    entries = json.loads(stats.with_suffix(".json").read_text())
    requests = sum(int(e["num_requests"]) for e in entries)
    first = min(float(e["start_time"]) for e in entries)
    last = max(float(e["last_request_timestamp"]) for e in entries)
    return requests / (last - first)


def recorded_rows(record_dir: Path) -> int:
    return sum(len(p.read_text().splitlines()) - 1 for p in record_dir.glob("requests-*.csv"))


def writer_cost(rows: int, work: Path) -> float:
    """Microseconds per record for the recorder's listener and writer alone (no Locust)."""
    sys.path.insert(0, str(LOAD_DIR))
    from _answers import Verdict
    from _plan import LoadPlan, Phase
    from _recorder import VERDICT, RequestRecorder
    from _records import RecordWriter

    recorder = RequestRecorder(
        RecordWriter(work / "requests-micro-1.csv"), LoadPlan((Phase("bench", 60.0),)), time.time()
    )
    context = {VERDICT: Verdict("ok", 200, feature_source="store", correct=True)}
    start = time.perf_counter()
    now = time.time()
    for i in range(rows):
        recorder.on_request(start_time=now + i * 1e-4, response_time=3.2, context=context, exception=None)
    recorder.writer.close()
    return (time.perf_counter() - start) / rows * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each Locust run")
    parser.add_argument("--users", type=int, default=20, help="Locust users (none of them waits)")
    parser.add_argument("--repeats", type=int, default=3, help="runs with and without the recorder")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    endpoint = context.Process(target=serve, args=(ports,), daemon=True)
    endpoint.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=30)}"
        with tempfile.TemporaryDirectory(prefix="load-throughput-") as tmp:
            work = Path(tmp)
            without: list[float] = []
            with_recorder: list[float] = []
            for i in range(args.repeats):
                without.append(run_locust(url, args.seconds, args.users, None, work))
                record_dir = work / f"records-{i}"
                with_recorder.append(run_locust(url, args.seconds, args.users, record_dir, work))
                print(
                    f"run {i + 1}: {without[-1]:8.0f} req/s without recorder, "
                    f"{with_recorder[-1]:8.0f} req/s with recorder ({recorded_rows(record_dir)} rows)"
                )
            micro = writer_cost(100_000, work)
    finally:
        endpoint.terminate()
        endpoint.join(10)

    base, recorded = statistics.median(without), statistics.median(with_recorder)
    overhead = 100.0 * (base - recorded) / base
    print(f"one Locust process, {args.users} users, {args.seconds:g} s runs, median of {args.repeats}:")
    print(f"  without recorder  {base:8.0f} req/s")
    print(f"  with recorder     {recorded:8.0f} req/s")
    print(f"  recorder overhead {overhead:8.1f} %  (target <= 10 %)")
    print(f"  recorder alone    {micro:8.2f} us per request (listener + CSV writer)")


if __name__ == "__main__":
    main()
