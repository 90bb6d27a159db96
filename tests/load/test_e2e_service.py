"""`locust -f load/ --headless` against one real service pod: every request recorded, none twice.

The test starts a Redis feature store (loaded with the data set) and one service pod on loopback,
runs Locust for six seconds in three phases, and compares the merged record with Locust's own
final statistics (`--json-file`). It runs once as a single process and once with `--processes 2` (a master and
two workers, each writing its own part).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from load._records import read_records, read_run_marker
from runner.load_driver import read_locust_totals
from testbed.ports import free_ports, port_in_use

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PHASES = {"baseline": 2.0, "chaos": 2.0, "recovery": 2.0}
RPS, USERS, TIMEOUT = 25.0, 5, 2.0
START_DEADLINE = 60.0
RUN_DEADLINE = 120.0


def spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def end(process: subprocess.Popen[bytes]) -> None:
    """Stop a process this test started, with its whole process group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def poll_until(check: Callable[[], bool], what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while not check():
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not up within {START_DEADLINE} s: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def answers_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("service")
    artifacts = work / "artifacts"
    trained = subprocess.run(
        [sys.executable, "-m", "service", "train", "--artifacts", str(artifacts)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert trained.returncode == 0, trained.stderr
    redis_port, port = free_ports(2)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis = spawn(
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        work / "redis.log",
    )
    pod = None
    try:
        poll_until(lambda: port_in_use(redis_port), "redis-server", redis, work / "redis.log")
        loaded = subprocess.run(
            [sys.executable, "-m", "service", "load-features", "--redis-url", redis_url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert loaded.returncode == 0, loaded.stderr
        serve = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)]
        serve += ["--pod-name", "pod-0", "--profile", str(ROOT / "experiments" / "system.yaml")]
        serve += ["--redis-url", redis_url, "--artifacts", str(artifacts)]
        pod = spawn(serve, work / "pod.log")
        url = f"http://127.0.0.1:{port}"
        poll_until(lambda: answers_ready(url + "/ready"), "service pod", pod, work / "pod.log")
        yield url
    finally:
        if pod is not None:
            end(pod)
        end(redis)


def pod_requests(url: str) -> float:
    """POST /predict requests the pod has answered (its mlservice_requests_total, all outcomes)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "mlservice_requests_total"
    )


def run_locust(url: str, record_dir: Path, processes: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOSLAB_")}
    env.update(
        CHAOSLAB_PHASES=",".join(f"{name}={seconds:g}s" for name, seconds in PHASES.items()),
        CHAOSLAB_RPS=str(RPS),
        CHAOSLAB_USERS=str(USERS),
        CHAOSLAB_TIMEOUT=f"{TIMEOUT:g}s",
        CHAOSLAB_RECORD_DIR=str(record_dir),
    )
    argv = [sys.executable, "-m", "locust", "-f", "load/", "--headless", "--host", url]
    argv += ["--json-file", str(record_dir / "locust"), "--only-summary", "--exit-code-on-error", "0"]
    argv += ["--processes", str(processes)] if processes else []
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=RUN_DEADLINE)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return subprocess.CompletedProcess(argv, process.returncode, output)


@pytest.mark.parametrize("processes", [0, 2], ids=["one-process", "two-worker-processes"])
def test_locust_records_every_request_it_counts(service_url: str, tmp_path: Path, processes: int) -> None:
    served_before = pod_requests(service_url)
    done = run_locust(service_url, tmp_path, processes)
    assert done.returncode == 0, done.stdout[-3000:]
    served = pod_requests(service_url) - served_before

    records = read_records(tmp_path)
    totals = read_locust_totals(tmp_path / "locust.json")
    assert totals is not None, done.stdout[-3000:]
    requests, failures = totals
    parts = sorted(tmp_path.glob("requests-*.csv"))
    assert len(parts) == max(processes, 1)  # one part per process that sends requests
    # Every request the pod answered is recorded once (the pod's own counter is the ground truth),
    # but for those a user had in flight when the load stopped: its answer came to nobody.
    reached = len(records) - sum(r.status == 0 for r in records)
    assert served - USERS <= reached <= served
    if processes:
        # The master's totals may miss the workers' last reports: Locust's MasterRunner.quit gives
        # them a fixed half second. What it did count is recorded.
        assert len(records) >= requests
    else:
        assert len(records) == requests
        assert sum(r.outcome == "error" for r in records) == failures

    expected = RPS * sum(PHASES.values())
    assert 0.5 * expected <= requests <= 1.2 * expected  # paced users: about RPS requests per second
    marker = read_run_marker(tmp_path)
    assert marker is not None
    started = float(marker["started"])
    times = [r.time for r in records]
    assert times == sorted(times)
    assert started - 1.0 <= times[0] and times[-1] <= started + sum(PHASES.values()) + 1.0
    phases = Counter(r.phase for r in records)
    assert set(phases) == set(PHASES)

    answered = [r for r in records if r.outcome != "error"]
    assert answered, "the pod answered nothing"
    assert Counter(r.feature_source for r in answered)["store"] >= 0.5 * len(answered)
    judged = [r for r in answered if r.correct is not None]
    wrong = sum(not r.correct for r in judged) / len(judged)
    assert wrong < 0.2  # the model is right on >90 % of the data set: ids and labels line up
