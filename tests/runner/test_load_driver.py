"""The runner's load driver: the Locust command, its environment, reading the live stream, stopping.

The e2e scenarios run real Locust processes against a small in-process HTTP endpoint that answers
like the prediction service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chaos.spec import load_experiment
from load import LOCUSTFILES, LoadPlan, Phase
from runner.load_driver import (
    LoadError,
    LoadRun,
    locust_command,
    locust_environment,
    plan_for,
    read_locust_totals,
)

PLAN = LoadPlan((Phase("baseline", 1.0), Phase("chaos", 1.0), Phase("recovery", 1.0)), rps=20.0, users=4)
DEADLINE = 90.0


def test_the_command_runs_the_load_directory_headless_with_final_statistics(tmp_path: Path) -> None:
    command = locust_command("http://127.0.0.1:8080", tmp_path, processes=2, python="py")
    assert command[:5] == ["py", "-m", "locust", "-f", str(LOCUSTFILES)]
    text = " ".join(command)
    assert "--headless --host http://127.0.0.1:8080" in text
    assert f"--json-file {tmp_path / 'locust'}" in text
    assert "--exit-code-on-error 0" in text  # failed requests are data, not a failed run
    assert command[-2:] == ["--processes", "2"]
    assert "--processes" not in locust_command("http://h", tmp_path)
    with pytest.raises(ValueError, match="processes=-1"):
        locust_command("http://h", tmp_path, processes=-1)


def test_the_environment_carries_the_plan_and_nothing_stale(tmp_path: Path) -> None:
    base = {"PATH": "/bin", "CHAOSLAB_SPEC": "old.yaml", "CHAOSLAB_RPS": "1", "CHAOSLAB_SEED": "3"}
    env = locust_environment(PLAN, tmp_path, seed=7, base=base)
    assert env["PATH"] == "/bin"
    assert "CHAOSLAB_SPEC" not in env
    assert env["CHAOSLAB_RPS"] == "20.0"
    assert env["CHAOSLAB_PHASES"] == "baseline=1000ms,chaos=1000ms,recovery=1000ms"
    assert env["CHAOSLAB_RECORD_DIR"] == str(tmp_path)
    assert env["CHAOSLAB_SEED"] == "7"
    assert "CHAOSLAB_SEED" not in locust_environment(PLAN, tmp_path, base=base)


def test_an_experiment_gives_its_phases_and_load(experiments_dir: Path) -> None:
    experiment = load_experiment(experiments_dir / "pod-failure.experiment.yaml")
    plan = plan_for(experiment)
    p = experiment.phases
    assert plan.bounds() == [
        ("baseline", 0.0, p.baseline),
        ("chaos", p.baseline, p.baseline + p.chaos),
        ("recovery", p.baseline + p.chaos, p.total),
    ]
    assert (plan.rps, plan.users, plan.arrival) == (
        experiment.load.rps,
        experiment.load.users,
        experiment.load.arrival,
    )
    assert plan.timeout == experiment.system.client.timeout
    assert plan_for(PLAN) is PLAN


def test_locusts_final_statistics_are_summed_over_its_entries(tmp_path: Path) -> None:
    stats = tmp_path / "locust.json"
    assert read_locust_totals(stats) is None
    entries = [
        {"name": "/predict", "method": "POST", "num_requests": 120, "num_failures": 7},
        {"name": "/ready", "method": "GET", "num_requests": 3, "num_failures": 0},
    ]
    stats.write_text(json.dumps(entries))
    assert read_locust_totals(stats) == (123, 7)


def started_process(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL)


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def test_stop_kills_the_whole_group_when_locust_ignores_sigterm(tmp_path: Path) -> None:
    child_pid_file = tmp_path / "child.pid"
    stubborn = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)'])\n"
        f"open({str(child_pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n"
    )
    process = started_process([sys.executable, "-c", stubborn])
    run = LoadRun(process, tmp_path, PLAN, settle=0.0)
    deadline = time.monotonic() + DEADLINE
    while not child_pid_file.exists() or not child_pid_file.read_text():
        assert time.monotonic() < deadline, "the stubborn process did not start its child"
        time.sleep(0.05)
    child = int(child_pid_file.read_text())
    assert run.stop(grace=0.2) == []
    assert run.returncode == -signal.SIGKILL
    while not gone(child):
        assert time.monotonic() < deadline, "the child survived the group kill"
        time.sleep(0.05)


def test_a_locust_that_ends_before_starting_the_test_is_reported(tmp_path: Path) -> None:
    (tmp_path / "locust.log").write_text("ImportError: no module named locust\n")
    run = LoadRun(started_process([sys.executable, "-c", "raise SystemExit(3)"]), tmp_path, PLAN, settle=0.0)
    with pytest.raises(LoadError, match=r"exited with status 3: ImportError: no module named locust"):
        run.wait_started(timeout=DEADLINE)
    with pytest.raises(LoadError, match="exited with status 3"):
        run.tail()
    run.stop()


def test_a_record_directory_is_used_by_one_run_only(tmp_path: Path) -> None:
    (tmp_path / "requests-host-1.csv").write_text("")
    with pytest.raises(LoadError, match="already holds request records"):
        LoadRun.start("http://127.0.0.1:9", tmp_path, PLAN)
    assert not (tmp_path / "locust.log").exists()  # nothing was started


def test_waiting_for_the_start_gives_up_at_its_deadline(tmp_path: Path) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    process = started_process([sys.executable, "-c", "import time; time.sleep(120)"])
    with LoadRun(process, tmp_path, PLAN, settle=0.0, clock=lambda: now[0]) as run:
        with pytest.raises(LoadError, match="did not start the test within 5 s"):
            run.wait_started(timeout=5.0, poll=1.0, sleep=sleep)
        assert now[0] == pytest.approx(5.0)
    assert gone(process.pid)


class PredictionHandler(BaseHTTPRequestHandler):
    """Answers /predict like the service; every fifth entity gets a 503."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        entity_id = json.loads(self.rfile.read(length))["entity_id"]
        status, body = (
            200,
            {
                "entity_id": entity_id,
                "prediction": 1,
                "probability": 0.8,
                "model_version": "v1",
                "feature_source": "store",
                "fallback": False,
                "fallback_reason": None,
                "degraded": False,
                "pod": "fake-0",
            },
        )
        if int(entity_id) % 5 == 0:
            status, body = 503, {"error": "overloaded"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PredictionHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.e2e
def test_the_runner_reads_the_stream_live_and_the_run_ends_by_itself(endpoint: str, tmp_path: Path) -> None:
    with LoadRun.start(endpoint, tmp_path, PLAN, settle=1.5) as run:
        started = run.wait_started(timeout=DEADLINE)
        live = []
        deadline = time.monotonic() + DEADLINE
        while run.running:
            live += run.tail()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert run.wait(timeout=DEADLINE) == 0
        rest = run.stop()
    stream = live + rest
    assert live, "nothing was read while the load ran"
    assert [r.time for r in stream] == sorted(r.time for r in stream)
    assert stream == run.records()
    assert run.locust_totals() == (len(stream), sum(r.outcome == "error" for r in stream))
    assert {r.phase for r in stream} == {"baseline", "chaos", "recovery"}
    assert all(started - 1.0 <= r.time <= started + PLAN.total + 1.0 for r in stream)
    assert {r.error_kind for r in stream if r.outcome == "error"} == {"overload"}


@pytest.mark.e2e
def test_stopping_early_ends_every_process_and_keeps_the_records_whole(endpoint: str, tmp_path: Path) -> None:
    long_plan = LoadPlan((Phase("baseline", 600.0),), rps=20.0, users=4)
    with LoadRun.start(endpoint, tmp_path, long_plan, processes=2) as run:
        run.wait_started(timeout=DEADLINE)
        deadline = time.monotonic() + DEADLINE
        while len(run.records()) < 20:
            assert run.running and time.monotonic() < deadline
            time.sleep(0.2)
    assert run.returncode == 0  # stopped cleanly, not killed
    with pytest.raises(ProcessLookupError):
        os.killpg(run.process.pid, 0)  # no process of the group is left
    records = run.records()
    assert len(list(tmp_path.glob("requests-*.csv"))) == 2
    # Stopped mid-run, Locust's master waits a fixed 0.5 s for the workers' final reports
    # (MasterRunner.quit) before it writes its statistics, so on a busy machine its totals can come
    # up short; the records (one part per worker) are whole.
    totals = run.locust_totals()
    assert totals is not None
    assert 0 < totals[0] <= len(records)
    assert all(r.outcome in ("ok", "degraded", "error") and r.latency >= 0 for r in records)
