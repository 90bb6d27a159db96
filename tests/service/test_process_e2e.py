"""A pod as the testbed runs it: `python -m service` train, load-features, serve, SIGTERM (e2e)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.service.servers import free_port, redis_server, stop

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
READY_DEADLINE = 20.0
EXIT_DEADLINE = 10.0


def _service(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_pod_process_serves_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    trained = _service("train", "--artifacts", str(artifacts))
    assert trained.returncode == 0, trained.stderr
    with redis_server(tmp_path) as redis:
        loaded = _service("load-features", "--redis-url", redis.url)
        assert loaded.returncode == 0, loaded.stderr
        port = free_port()
        env = dict(os.environ, CHAOS_ENABLED="false", CHAOSLAB_ADMIN_TOKEN="t0ken")
        log = (tmp_path / "pod.log").open("w")
        pod = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--pod-name", "pod-7", "--profile", "experiments/system.yaml", "--redis-url", redis.url,
             "--artifacts", str(artifacts)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=5.0) as client:
                deadline = time.monotonic() + READY_DEADLINE
                while True:
                    assert pod.poll() is None, (tmp_path / "pod.log").read_text()
                    try:
                        if client.get("/ready").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "pod not ready before the deadline"
                    time.sleep(0.05)
                answer = client.post("/predict", json={"entity_id": "42"}).json()
                assert (answer["pod"], answer["feature_source"], answer["model_version"]) == (
                    "pod-7",
                    "store",
                    "v1",
                )
                switched = client.post(
                    "/admin/model", json={"version": "v2"}, headers={"Authorization": "Bearer t0ken"}
                )
                assert switched.status_code == 200
                metrics = client.get("/metrics").text
                assert 'mlservice_requests_total{code="200",outcome="success"} 1.0' in metrics
                assert 'mlservice_model_info{version="v2"} 1.0' in metrics
                assert "_created" not in metrics
            pod.send_signal(signal.SIGTERM)
            assert pod.wait(EXIT_DEADLINE) == 0
        finally:
            stop(pod)
            log.close()
    text = (tmp_path / "pod.log").read_text()
    assert "pod pod-7 stopped" in text and "Traceback" not in text


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    missing = _service(
        "serve", "--port", "1", "--pod-name", "p", "--redis-url", "redis://127.0.0.1:1/0",
        "--artifacts", str(tmp_path / "none"),
    )  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1].startswith("ArtifactError: ")
    assert "Traceback" not in missing.stderr
    env = dict(os.environ, CHAOS_FAILURE_RATE="2")
    bad_env = _service(
        "serve", "--port", "1", "--pod-name", "p", "--redis-url", "redis://x", "--artifacts", "x", env=env
    )
    assert bad_env.returncode == 1
    assert "CHAOS_FAILURE_RATE='2'" in bad_env.stderr and "Traceback" not in bad_env.stderr


def test_a_pod_in_its_start_up_refuses_connections_then_listens(tmp_path: Path) -> None:
    """The emulated container start-up: nothing listens on the port before `--ready-not-before`
    (connections refused, as to a container still loading its model), and the pod serves after."""
    artifacts = tmp_path / "artifacts"
    trained = _service("train", "--artifacts", str(artifacts))
    assert trained.returncode == 0, trained.stderr
    port = free_port()
    not_before = time.time() + 3.0
    log = (tmp_path / "pod.log").open("w")
    pod = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--pod-name", "pod-3", "--redis-url", "redis://127.0.0.1:1", "--artifacts", str(artifacts),
         "--ready-not-before", f"{not_before:.6f}"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    attempts: list[tuple[float, bool]] = []
    try:
        deadline = time.monotonic() + READY_DEADLINE
        while not attempts or not attempts[-1][1]:
            assert pod.poll() is None, (tmp_path / "pod.log").read_text()
            assert time.monotonic() < deadline, "the pod never listened"
            with socket.socket() as probe:
                probe.settimeout(1.0)
                at = time.time()
                attempts.append((at, probe.connect_ex(("127.0.0.1", port)) == 0))
            time.sleep(0.01)
    finally:
        stop(pod)
        log.close()
    before = [connected for at, connected in attempts if at < not_before]
    assert before and not any(before), "connections before the start-up's end are refused"
    assert attempts[-1][0] >= not_before
