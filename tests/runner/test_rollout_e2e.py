"""Rollouts as chaos steps for real: the chaotic deployment and a bad-model rollout on a 3-pod testbed.

The test starts its own small testbed (short probe period and start-up, alerts with `for: 1s`) and
runs two shortened experiments through the CLI: the chaotic deployment (model chaos on, 20 % of
model calls failing) and a rollout of the bad model version `v3-bad`. Each must roll every pod to
the new template, show its effect in the run record (fallback answers; wrong answers and the
prediction-shift alert), roll back at recovery and leave the testbed on its original template.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from runner.marker import MARKER_NAME
from testbed import lifecycle
from testbed.client import TestbedClient
from testbed.config import Overrides
from testbed.rundir import RunDir

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


def write_spec(folder: Path, name: str, chaos: dict[str, Any], criteria: list[dict[str, Any]]) -> Path:
    spec = yaml.safe_load((ROOT / "experiments" / f"{name}.experiment.yaml").read_text())
    body = spec["spec"]
    body["chaos"] = [chaos]
    body["phases"] = {"baseline": "8s", "chaos": "30s", "recovery": "15s"}
    body["successCriteria"] = criteria
    path = folder / f"{name}.experiment.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestbedClient, Path]]:
    folder = tmp_path_factory.mktemp("experiment")
    write_profile(folder)
    run_dir = RunDir(folder / "testbed")
    options = lifecycle.UpOptions(
        profile=folder / "system.yaml",
        overrides=Overrides(alert_for=1.0),
        artifacts=tmp_path_factory.mktemp("artifacts"),
        seed=5,
    )
    lifecycle.start(run_dir, options)
    try:
        with TestbedClient(run_dir) as client:
            yield client, folder
    finally:
        lifecycle.stop(run_dir)


def chaoslab(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def run(client: TestbedClient, spec: Path, runs: Path) -> Path:
    args = ["--run-dir", str(client.run_dir.path), "--runs", str(runs), "-r", "2", "--jobs", "1"]
    result = chaoslab("run", str(spec), *args)
    assert result.exit_code in (0, 1), result.output  # 1: a criterion failed, the run itself completed
    (record,) = runs.iterdir()
    return record


def events_of(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (record / "events.jsonl").read_text().splitlines()]


def rolled_back(client: TestbedClient, within: float) -> dict[str, Any]:
    """The testbed's rollout once it is back on the original template (or at the deadline)."""
    deadline = time.monotonic() + within
    while True:
        state = client.rollout()
        if (state["env"] == {} and state["complete"]) or time.monotonic() >= deadline:
            return state
        time.sleep(POLL)


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

    state = rolled_back(client, 20.0)
    assert state["env"] == {} and state["complete"], state
    served = {p["name"]: p for p in client.pods()}
    assert len(served) == 3 and all(p["ready"] for p in served.values())
