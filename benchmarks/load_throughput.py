"""Requests per second one Locust process sustains with the load harness, with and without recording.

    .venv/bin/python benchmarks/load_throughput.py [--seconds 5] [--users 20] [--repeats 4]

A trivial endpoint (an asyncio HTTP/1.1 server in its own process, answering /predict like the
service) takes the load, so that the figures are the load generator's. The locustfile of `load/`
runs inside this process through Locust's library API (one process, one core at most), its users
never waiting, alternately without and with the request recorder (`--chaoslab-record-dir`).

Each run reports requests per second of wall time and CPU time per request of this process; on a
machine shared with other work, wall-time rates move with the neighbours, CPU time per request much
less, so the recorder's overhead is given from both. The target is at most 10 %; this script
prints, it does not judge.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import time
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE_RPS = 1_000_000  # every user sends its next request as soon as the last one is answered
MAX_SPAWN_RATE = 100  # Locust warns above this
RUN_PHASE = "bench=1h"  # longer than any run: the benchmark stops the users itself
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


@dataclass(frozen=True)
class Measure:
    requests: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.requests / self.wall

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.requests * 1e6


class LocustBench:
    """The locustfile of load/ in this process, started and stopped run after run."""

    def __init__(self, url: str, users: int) -> None:
        import gevent  # type: ignore[import-untyped]
        from locust import events
        from locust.env import Environment

        from load import prediction_api

        self.users = users
        self.sleep = gevent.sleep
        self.options = Namespace(
            chaoslab_spec="",
            chaoslab_phases=RUN_PHASE,
            chaoslab_rps=str(UNREACHABLE_RPS),
            chaoslab_users=str(users),
            chaoslab_arrival="",
            chaoslab_timeout="",
            chaoslab_seed="1",
            chaoslab_record_dir="",
        )
        self.env = Environment(
            user_classes=[prediction_api.PredictionUser], events=events, host=url, parsed_options=self.options
        )
        self.runner = self.env.create_local_runner()

    def run(self, seconds: float, record_dir: Path | None) -> Measure:
        self.options.chaoslab_record_dir = str(record_dir) if record_dir else ""
        self.runner.start(self.users, spawn_rate=min(self.users, MAX_SPAWN_RATE), wait=True)
        self.sleep(1.0)  # warm up: connections open, first answers in
        stats = self.runner.stats.total
        n0, t0, c0 = stats.num_requests, time.perf_counter(), time.process_time()
        self.sleep(seconds)
        n1, t1, c1 = stats.num_requests, time.perf_counter(), time.process_time()
        self.runner.stop()
        return Measure(n1 - n0, t1 - t0, c1 - c0)

    def quit(self) -> None:
        self.runner.quit()


def recorded_rows(record_dir: Path) -> int:
    return sum(len(p.read_text().splitlines()) - 1 for p in record_dir.glob("requests-*.csv"))


def writer_cost(rows: int, work: Path) -> float:
    """Microseconds per record for the recorder's listener and writer alone (no Locust)."""
    from load._answers import Verdict
    from load._plan import LoadPlan, Phase
    from load._recorder import VERDICT, RequestRecorder
    from load._records import RecordWriter

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


def describe(m: Measure) -> str:
    return f"{m.rate:7.0f} req/s, {m.cpu_us:6.1f} us CPU/request"


def overhead(base: float, recorded: float) -> float:
    return 100.0 * (recorded - base) / base


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Requests/s of one Locust process with and without recorder."
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="measured length of each run")
    parser.add_argument("--users", type=int, default=20, help="Locust users (none of them waits)")
    parser.add_argument("--repeats", type=int, default=4, help="runs with and without the recorder")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    endpoint = context.Process(target=serve, args=(ports,), daemon=True)
    endpoint.start()  # before Locust is imported: it patches the standard library for gevent
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=30)}"
        with tempfile.TemporaryDirectory(prefix="load-throughput-") as tmp:
            work = Path(tmp)
            micro = writer_cost(100_000, work)
            bench = LocustBench(url, args.users)
            plain: list[Measure] = []
            recorded: list[Measure] = []
            for i in range(args.repeats):
                record_dir = work / f"records-{i}"
                pair = [(plain, None), (recorded, record_dir)]
                for results, directory in pair if i % 2 == 0 else pair[::-1]:
                    results.append(bench.run(args.seconds, directory))
                rows = recorded_rows(record_dir)
                print(f"run {i + 1}: without recorder {describe(plain[-1])}")
                print(f"       with recorder    {describe(recorded[-1])} ({rows} rows recorded)")
            bench.quit()
    finally:
        endpoint.terminate()
        endpoint.join(10)

    rate_off = statistics.median(m.rate for m in plain)
    rate_on = statistics.median(m.rate for m in recorded)
    cpu_off = statistics.median(m.cpu_us for m in plain)
    cpu_on = statistics.median(m.cpu_us for m in recorded)
    print(f"one Locust process, {args.users} users, {args.seconds:g} s per run, median of {args.repeats}:")
    for label, rate, cpu in (("without recorder", rate_off, cpu_off), ("with recorder", rate_on, cpu_on)):
        print(f"  {label:<17} {rate:7.0f} req/s  {cpu:6.1f} us CPU/request ({1e6 / cpu:6.0f} req/s per core)")
    print(
        f"  recorder overhead {-overhead(rate_off, rate_on):6.1f} % of req/s, "
        f"{overhead(cpu_off, cpu_on):5.1f} % CPU per request (target <= 10 %)"
    )
    print(f"  recorder alone    {micro:7.2f} us per request (listener + CSV line, no Locust)")


if __name__ == "__main__":
    main()
