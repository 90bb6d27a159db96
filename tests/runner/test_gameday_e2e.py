"""`chaoslab gameday` for real: three shortened scenarios on a 3-pod testbed, mitigated automatically.

The test starts its own small testbed (short probe period and start-up, alerts with `for: 1s`),
writes a GameDay of three scenarios (kill a pod, the feature store unreachable, the bad model) with
the rollback 3 s after the first alert, and runs it through the CLI. Every scenario must be
recorded as a run, the store outage and the bad model mitigated before their chaos phase ended,
and the debrief written with the response times of each scenario.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from testbed.client import TestbedClient
from tests.runner.small_testbed import small_testbed

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
PHASES = {"baseline": "8s", "chaos": "30s", "recovery": "12s"}


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXPERIMENTS / name).read_text())
    return doc


def _dump(folder: Path, name: str, doc: dict[str, Any]) -> None:
    (folder / name).write_text(yaml.safe_dump(doc, sort_keys=False))


def write_gameday(folder: Path) -> Path:
    profile = _load("system.yaml")
    profile["spec"]["service"]["replicas"] = 3
    profile["spec"]["readinessProbe"]["period"] = "500ms"
    profile["spec"]["lifecycle"].update(scheduleDelay="500ms", startupTime="1s")
    profile["spec"]["load"] = {"rps": 30, "users": 6, "arrival": "closed", "entities": 569}
    _dump(folder, "system.yaml", profile)

    kill = _load("pod-kill-50.yaml")
    kill["spec"].update(mode="one")
    kill["spec"].pop("value")
    _dump(folder, "pod-kill.yaml", kill)
    outage = _load("feature-store-outage.yaml")
    outage["spec"]["duration"] = "25s"
    _dump(folder, "feature-store-outage.yaml", outage)

    any_answer = {"name": "answered", "metric": "availability", "phase": "chaos", "above": "50%"}
    for name, chaos, alerts in (
        ("pod-kill-50", {"manifest": "pod-kill.yaml"}, "MLServicePodsUnavailable"),
        ("feature-store-outage", {"manifest": "feature-store-outage.yaml"}, "MLServiceCircuitBreakerOpen"),
        ("bad-model", {"modelRollout": {"version": "v3-bad"}}, "MLServicePredictionDistributionShift"),
    ):
        spec = _load(f"{name}.experiment.yaml")
        spec["spec"]["chaos"] = [chaos]
        spec["spec"]["phases"] = PHASES
        spec["spec"]["scope"].pop("blastRadius", None)
        spec["spec"]["successCriteria"] = [any_answer, {"name": "alert fires", "alertsFire": [alerts]}]
        _dump(folder, f"{name}.experiment.yaml", spec)

    gameday = _load("gameday.yaml")
    gameday["spec"]["mitigation"] = {"automaticAfter": "3s"}
    gameday["spec"]["targets"] = {"alert": "20s", "mitigation": "20s", "recovery": "30s"}
    for scenario in gameday["spec"]["scenarios"]:
        scenario["slot"] = "2m"
    gameday["spec"]["scenarios"][0]["experiment"] = "pod-kill-50.experiment.yaml"
    gameday["spec"].pop("workflow")
    path = folder / "gameday.yaml"
    _dump(folder, "gameday.yaml", gameday)
    return path


@pytest.fixture(scope="module")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestbedClient, Path]]:
    folder = tmp_path_factory.mktemp("gameday")
    path = write_gameday(folder)
    with small_testbed(folder, tmp_path_factory, seed=11) as client:
        yield client, path


def events_of(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (record / "events.jsonl").read_text().splitlines()]


def test_a_three_scenario_gameday_completes_recorded_and_debriefed(
    testbed: tuple[TestbedClient, Path], tmp_path: Path
) -> None:
    client, path = testbed
    runs = tmp_path / "runs"
    args = ["gameday", str(path), "--run-dir", str(client.run_dir.path), "--runs", str(runs), "-r", "2"]
    result = CliRunner().invoke(app, [*args, "--jobs", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output

    (folder,) = runs.iterdir()
    index = json.loads((folder / "gameday.json").read_text())
    assert [s["name"] for s in index["scenarios"]] == [
        "kill half the pods",
        "feature store down",
        "bad model",
    ]
    for scenario in index["scenarios"]:
        record = folder / scenario["record"]
        assert (record / "run.json").is_file() and (record / "prediction.json").is_file()
        assert scenario["status"] in ("passed", "failed")

    by_name = {s["name"]: folder / s["record"] for s in index["scenarios"]}
    for name in ("feature store down", "bad model"):  # mitigated 3 s after their alert
        events = events_of(by_name[name])
        kinds = [e["kind"] for e in events]
        assert "alert-noticed" in kinds and "mitigate" in kinds, name
        mitigate = next(e for e in events if e["kind"] == "mitigate")
        recover = next(e for e in events if e["kind"] == "recover")
        assert mitigate["by"] == "automatic" and recover["reason"] == mitigate["reason"]
        chaos_end = next(e["time"] for e in events if e["kind"] == "phase" and e["phase"] == "recovery")
        assert recover["time"] < chaos_end  # rolled back before the chaos phase ended

    debrief = (folder / "gameday.md").read_text()
    for heading in ("## Scenario 1: kill half the pods", "## Scenario 3: bad model", "## Action items"):
        assert heading in debrief
    assert debrief.count("| fault to first alert |") == 3
    assert "(automatic)" in debrief
    assert (folder / "gameday.html").read_text().count('<h2 id="scenario-') == 3
    assert client.rollout()["env"] == {} and client.faults() == []
