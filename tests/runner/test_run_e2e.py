"""`chaoslab run` for real: a 3-pod testbed, Locust at 30 rps, a pod failure, Prometheus, the record.

The test starts its own small testbed (short probe period, alerts with `for: 1s`) from a copy of the
system profile, runs a shortened pod-failure experiment through the CLI (8 s baseline, 10 s chaos,
10 s recovery), checks the run record and that nothing is left injected, then stops the testbed.
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

from analysis.host import host_phases, to_phases
from analysis.signals import Signals
from cli.main import app
from runner.marker import MARKER_NAME
from testbed.client import TestbedClient
from tests.runner.small_testbed import small_testbed

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RPS, USERS = 30, 6
POLL = 0.2


def write_files(folder: Path) -> Path:
    """A 3-pod profile, a one-pod pod-failure manifest and a shortened experiment spec."""
    profile = yaml.safe_load((ROOT / "experiments" / "system.yaml").read_text())
    profile["spec"]["service"]["replicas"] = 3
    profile["spec"]["readinessProbe"]["period"] = "500ms"
    profile["spec"]["load"] = {"rps": RPS, "users": USERS, "arrival": "closed"}
    (folder / "system.yaml").write_text(yaml.safe_dump(profile))
    manifest = yaml.safe_load((ROOT / "experiments" / "pod-failure.yaml").read_text())
    manifest["metadata"]["name"] = "e2e-pod-failure"
    manifest["spec"].update(mode="one", duration="10s")
    manifest["spec"].pop("value", None)
    (folder / "pod-failure.yaml").write_text(yaml.safe_dump(manifest))
    spec = yaml.safe_load((ROOT / "experiments" / "pod-failure.experiment.yaml").read_text())
    body = spec["spec"]
    spec["metadata"]["name"] = "pod-failure-e2e"
    body["scope"]["blastRadius"]["maxPercent"] = 50
    body["phases"] = {"baseline": "8s", "chaos": "10s", "recovery": "10s"}
    body["successCriteria"] = [
        {"name": "most requests answered", "metric": "availability", "phase": "chaos", "above": "50%"},
        {"name": "pods-unavailable alert fires", "alertsFire": ["MLServicePodsUnavailable"]},
        {"name": "pods back", "podsReady": {"within": "9s"}},
        {"name": "no manual intervention", "noManualIntervention": True},
    ]
    body["abortConditions"] = [{"name": "collapse", "metric": "availability", "below": "20%", "for": "5s"}]
    path = folder / "pod-failure.experiment.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestbedClient, Path]]:
    folder = tmp_path_factory.mktemp("experiment")
    spec = write_files(folder)
    with small_testbed(folder, tmp_path_factory, seed=3) as client:
        yield client, spec


def pods_state(client: TestbedClient) -> list[tuple[str, bool, bool]]:
    return sorted((p["name"], p["ready"], p["failure_injected"]) for p in client.pods())


def wait_all_ready(client: TestbedClient, within: float) -> list[tuple[str, bool, bool]]:
    deadline = time.monotonic() + within
    while True:
        state = pods_state(client)
        if all(ready for _, ready, _ in state) or time.monotonic() >= deadline:
            return state
        time.sleep(POLL)


def chaoslab(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_a_dry_run_touches_nothing_on_the_testbed(
    testbed: tuple[TestbedClient, Path], tmp_path: Path
) -> None:
    client, spec = testbed
    before = pods_state(client)
    result = chaoslab(
        "run", str(spec), "--run-dir", str(client.run_dir.path), "--runs", str(tmp_path), "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert "nothing is touched" in result.output and "PodChaos/e2e-pod-failure" in result.output
    assert pods_state(client) == before and client.faults() == []
    assert list(tmp_path.iterdir()) == [] and not (client.run_dir.path / MARKER_NAME).exists()


def test_a_pod_failure_run_end_to_end(testbed: tuple[TestbedClient, Path], tmp_path: Path) -> None:
    client, spec = testbed
    runs = tmp_path / "runs"
    args = ["--run-dir", str(client.run_dir.path), "--runs", str(runs), "-r", "2", "--jobs", "1"]
    result = chaoslab("run", str(spec), *args)
    assert result.exit_code == 0, result.output

    (record,) = runs.iterdir()
    metrics = ("request_rate", "error_ratio", "latency_p95", "pods_up")
    for name in (
        "run.json",
        "prediction.json",
        "events.jsonl",
        "pods.csv",
        "observed.json",
        "verdict.json",
        "summary.md",
        "load/locust.json",
        "spec/pod-failure.experiment.yaml",
        "spec/pod-failure.yaml",
        "spec/system.yaml",
        *(f"prometheus/{m}.json" for m in metrics),
    ):
        assert (record / name).is_file(), name
    assert list((record / "load").glob("requests-*.csv"))

    events = [json.loads(line) for line in (record / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    (inject,) = [e for e in events if e["kind"] == "inject"]
    assert inject["action"] == "pod-failure" and len(inject["targets"]) == 1
    victim = inject["targets"][0]
    recovered = [e for e in events if e["kind"] in ("recover", "recovered")]
    assert recovered and recovered[0]["time"] >= inject["time"] + 9.0
    assert kinds.index("inject") < kinds.index("pod-not-ready") < kinds.index("pod-ready")
    assert next(e for e in events if e["kind"] == "pod-not-ready")["pod"] == victim
    assert "alert-firing" in kinds

    observed = json.loads((record / "observed.json").read_text())
    chaos = observed["phases"]["chaos"]["metrics"]
    assert chaos["availability"]["value"] < 1.0
    assert chaos["ready_pods_min"]["value"] == 2
    assert observed["phases"]["baseline"]["metrics"]["availability"]["value"] > 0.95
    samples = (record / "pods.csv").read_text().splitlines()[1:]
    _, last_ready, last_desired = samples[-1].split(",")
    assert int(last_ready) == int(last_desired) == 3
    series = json.loads((record / "prometheus/pods_up.json").read_text())
    (pods_up,) = series["result"]
    # Prometheus saw the three pods up, and the failed one down while the fault lasted
    assert {2.0, 3.0} <= {float(v) for _, v in pods_up["values"]}

    verdict = json.loads((record / "verdict.json").read_text())
    assert verdict["status"] == "passed" and all(c["passed"] for c in verdict["criteria"])
    prediction = json.loads((record / "prediction.json").read_text())
    assert prediction["prediction"]["replications"] == 2
    assert "## Before, during, after" in (record / "summary.md").read_text()

    # the machine's CPU, from the testbed's node exporter, for every phase of the run
    signals = Signals.from_json(json.loads((record / "signals.json").read_text()))
    rows = host_phases(signals.host_cpu, to_phases(json.loads((record / "run.json").read_text())))
    assert {r.phase for r in rows} == {"baseline", "chaos", "recovery"}
    assert all(0.0 <= r.idle_min <= 1.0 and 0.0 <= r.steal_max <= 1.0 and r.samples > 0 for r in rows)
    assert all(r.busy_mean > 0.0 for r in rows)  # the load and the pods ran on it
    assert "The machine's CPU (node exporter" in (record / "summary.md").read_text()

    # nothing is left on the testbed: no failure, no fault, no marker; every pod serves again
    assert all(ready and not failed for _, ready, failed in wait_all_ready(client, 10.0))
    assert client.faults() == []
    assert not (client.run_dir.path / MARKER_NAME).exists()
