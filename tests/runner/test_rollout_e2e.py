"""Rollouts as chaos steps for real: the chaotic deployment and a bad-model rollout on a 3-pod testbed.

The test starts its own small testbed (short probe period and start-up, alerts with `for: 1s`) and
runs two shortened experiments through the CLI: the chaotic deployment (model chaos on, 20 % of
model calls failing) and a rollout of the bad model version `v3-bad`. Each must roll every pod to
the new template, show its effect in the run record (fallback answers; wrong answers and the
prediction-shift alert), roll back at recovery and leave the testbed on its original template.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from runner.marker import MARKER_NAME
from testbed.client import TestbedClient
from tests.runner.small_testbed import small_testbed

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
POLL = 0.2


def write_profile(folder: Path) -> None:
    profile = yaml.safe_load((ROOT / "experiments" / "system.yaml").read_text())
    profile["spec"]["service"]["replicas"] = 3
    profile["spec"]["readinessProbe"]["period"] = "500ms"
    profile["spec"]["lifecycle"].update(scheduleDelay="500ms", startupTime="1s")
    profile["spec"]["load"] = {"rps": 30, "users": 6, "arrival": "closed", "entities": 569}
    (folder / "system.yaml").write_text(yaml.safe_dump(profile))
    chaotic = yaml.safe_load((ROOT / "k8s" / "chaotic-deployment.yaml").read_text())
    for item in chaotic["spec"]["template"]["spec"]["containers"][0]["env"]:
        if item["name"] == "CHAOS_FAILURE_RATE":
            item["value"] = "0.2"
    (folder / "chaotic-deployment.yaml").write_text(yaml.safe_dump(chaotic))


def write_spec(
    folder: Path, name: str, chaos: dict[str, Any], criteria: list[dict[str, Any]], chaos_phase: str = "30s"
) -> Path:
    spec = yaml.safe_load((ROOT / "experiments" / f"{name}.experiment.yaml").read_text())
    body = spec["spec"]
    body["chaos"] = [chaos]
    body["phases"] = {"baseline": "8s", "chaos": chaos_phase, "recovery": "15s"}
    body["successCriteria"] = criteria
    path = folder / f"{name}.experiment.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestbedClient, Path]]:
    folder = tmp_path_factory.mktemp("experiment")
    write_profile(folder)
    with small_testbed(folder, tmp_path_factory, seed=5) as client:
        yield client, folder


def chaoslab(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def run(client: TestbedClient, spec: Path, runs: Path) -> Path:
    args = ["--run-dir", str(client.run_dir.path), "--runs", str(runs), "-r", "2", "--jobs", "1"]
    result = chaoslab("run", str(spec), *args)
    assert result.exit_code in (0, 3), result.output  # 3: a criterion failed, the run itself completed
    (record,) = runs.iterdir()
    return record


def events_of(record: Path) -> list[dict[str, Any]]:
    """The record's events so far (none while the runner has not written the file yet)."""
    path = record / "events.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


def rolled_back(client: TestbedClient, within: float) -> dict[str, Any]:
    """The testbed's rollout once it is back on the original template and Prometheus scrapes every
    pod of it (what the next run's prerequisites ask), or at the deadline."""
    deadline = time.monotonic() + within
    while True:
        state = client.rollout()
        done = state["env"] == {} and state["complete"]
        if (done and _targets_up(client)) or time.monotonic() >= deadline:
            return state
        time.sleep(POLL)


def _targets_up(client: TestbedClient) -> bool:
    """Prometheus scrapes exactly the pods there are now, and every target is up."""
    targets = client.get_json(f"{client.urls.prometheus}/api/v1/targets", {"state": "active"})
    active = targets["data"]["activeTargets"]
    scraped = {t["labels"]["instance"] for t in active if t["labels"].get("job") == "ml-prediction-service"}
    pods = {f"{client.plan.host}:{p['port']}" for p in client.pods()}
    return scraped == pods and all(t["health"] == "up" for t in active)


def test_the_chaotic_deployment_rolls_out_shows_fallbacks_and_rolls_back(
    testbed: tuple[TestbedClient, Path], tmp_path: Path
) -> None:
    client, folder = testbed
    before = {p["name"].rsplit("-", 2)[1] for p in client.pods()}
    spec = write_spec(
        folder,
        "model-chaos",
        {"rollout": "chaotic-deployment.yaml"},
        [
            {"name": "answered", "metric": "availability", "phase": "chaos", "above": "95%"},
            {"name": "no manual intervention", "noManualIntervention": True},
        ],
    )
    record = run(client, spec, tmp_path / "runs")

    events = events_of(record)
    (inject,) = [e for e in events if e["kind"] == "inject"]
    assert inject["action"] == "rollout" and inject["resource"] == "Deployment"
    assert any(e["kind"] == "recover" for e in events)
    created = [e["pod"] for e in events if e["kind"] == "pod-created"]
    assert len(created) >= 6  # three new pods, then three again for the rollback

    observed = json.loads((record / "observed.json").read_text())
    chaos = observed["phases"]["chaos"]["metrics"]
    baseline = observed["phases"]["baseline"]["metrics"]
    assert baseline["fallback_share"]["value"] == 0.0
    assert chaos["fallback_share"]["value"] > 0.05  # 20 % of model calls fail on the chaotic pods
    assert chaos["availability"]["value"] > 0.95  # ... and the fallback model answers them
    assert chaos["ready_pods_min"]["value"] >= 3  # maxUnavailable 0: never below the replicas

    state = rolled_back(client, 20.0)
    assert state["env"] == {} and state["complete"], state
    after = {p["name"].rsplit("-", 2)[1] for p in client.pods()}
    assert after == before  # the rollback's pods are the original template's (same pod-name hash)
    assert not (client.run_dir.path / MARKER_NAME).exists()


def test_a_bad_model_rollout_fires_the_shift_alert_and_the_rollback_restores_correct_answers(
    testbed: tuple[TestbedClient, Path], tmp_path: Path
) -> None:
    client, folder = testbed
    spec = write_spec(
        folder,
        "bad-model",
        {"modelRollout": {"version": "v3-bad"}},
        [
            {"name": "answered", "metric": "availability", "phase": "chaos", "above": "95%"},
            {"name": "shift alert fires", "alertsFire": ["MLServicePredictionDistributionShift"]},
        ],
        # the rule compares the class mix of the last 2 minutes, which hold the earlier tests' good
        # answers too: the bad model must answer for more than half of them (0.641 -> 0.359 vs 0.627)
        chaos_phase="100s",
    )
    record = run(client, spec, tmp_path / "runs")

    events = events_of(record)
    (inject,) = [e for e in events if e["kind"] == "inject"]
    assert inject["action"] == "model-rollout"
    firing = {e["alert"] for e in events if e["kind"] == "alert-firing"}
    assert "MLServicePredictionDistributionShift" in firing

    observed = json.loads((record / "observed.json").read_text())
    phases = observed["phases"]
    assert phases["baseline"]["metrics"]["wrong_rate"]["value"] < 0.1
    assert phases["chaos"]["metrics"]["wrong_rate"]["value"] > 0.5  # v3-bad is wrong on 98.6 %
    verdict = json.loads((record / "verdict.json").read_text())
    assert {c["name"]: c["passed"] for c in verdict["criteria"]}["shift alert fires"] is True
    # the rollback restored correct answers: the run's last 5 s are the good model's again
    rows = [r for f in (record / "load").glob("requests-*.csv") for r in csv.DictReader(f.open())]
    end = max(float(r["time"]) for r in rows)
    judged = [
        r["correct"] for r in rows if float(r["time"]) > end - 5.0 and r["correct"] in ("true", "false")
    ]
    assert judged and judged.count("false") / len(judged) < 0.1

    state = rolled_back(client, 20.0)
    assert state["env"] == {} and state["complete"], state
    served = {p["name"]: p for p in client.pods()}
    assert len(served) == 3 and all(p["ready"] for p in served.values())


# -- the safety paths with a rollout in place -------------------------------------------------------
CHAOSLAB = str(Path(sys.executable).with_name("chaoslab"))


@contextmanager
def _rolling(client: TestbedClient, spec: Path, runs: Path) -> Iterator[subprocess.Popen[str]]:
    """`chaoslab run` of `spec` in a process of its own, once its rollout has started (killed after)."""
    argv = [CHAOSLAB, "run", str(spec), "--run-dir", str(client.run_dir.path), "--runs", str(runs)]
    process = subprocess.Popen(
        [*argv, "--no-predict"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60.0
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            injected = any(e["kind"] == "inject" for r in runs.glob("bad-model-*") for e in events_of(r))
            if injected and client.rollout()["env"]:
                break
            assert time.monotonic() < deadline, "the rollout did not start within 60 s"
            time.sleep(POLL)
        yield process
    finally:
        if process.poll() is None:
            process.kill()


def _long_bad_model(folder: Path) -> Path:
    return write_spec(
        folder,
        "bad-model",
        {"modelRollout": {"version": "v3-bad"}},
        [{"name": "answered", "metric": "availability", "phase": "chaos", "above": "50%"}],
    )


def test_sigint_mid_rollout_rolls_back_before_the_run_ends(
    testbed: tuple[TestbedClient, Path], tmp_path: Path
) -> None:
    client, folder = testbed
    runs = tmp_path / "runs"
    with _rolling(client, _long_bad_model(folder), runs) as process:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "rollback done" in output
    state = rolled_back(client, 30.0)
    assert state["env"] == {} and state["complete"], state
    assert not (client.run_dir.path / MARKER_NAME).exists()


def test_cleanup_rolls_back_what_a_killed_run_left(
    testbed: tuple[TestbedClient, Path], tmp_path: Path
) -> None:
    client, folder = testbed
    runs = tmp_path / "runs"
    with _rolling(client, _long_bad_model(folder), runs) as process:
        process.kill()  # SIGKILL: no rollback, the marker stays and so does the rollout
        process.wait(timeout=30)
    assert client.rollout()["env"] == {"CHAOSLAB_MODEL_VERSION": "v3-bad"}
    assert (client.run_dir.path / MARKER_NAME).exists()
    result = subprocess.run(
        [CHAOSLAB, "cleanup", "--run-dir", str(client.run_dir.path), "--runs", str(runs)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rolled back ml-services/ml-prediction-service" in result.stdout
    state = rolled_back(client, 30.0)
    assert state["env"] == {} and state["complete"], state
    assert not (client.run_dir.path / MARKER_NAME).exists()
