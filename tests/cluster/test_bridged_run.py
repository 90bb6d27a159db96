"""`chaoslab run --backend kubernetes` for real: Chaos Mesh's controller on the test cluster fails
the Deployment's pods, the bridge carries that over to the testbed's service processes, Locust's
load and the testbed's Prometheus see it, and readiness flows back through the API to the runner.

The cluster's Deployment (k8s/deployment.yaml, 3 replicas) runs on one kwok node whose pods are
the testbed's (testcluster.bridge). The experiment is the short pod-failure of the testbed e2e test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiClient

from runner.executors.kubernetes import GROUP, VERSION
from testbed import lifecycle
from testbed.client import TestbedClient
from testbed.config import Overrides
from testbed.rundir import RULES_FILE
from testcluster.bridge import Bridge
from testcluster.bridged import bridged_testbed
from testcluster.cluster import TestCluster, available, binaries
from tests.cluster.conftest import CHAOS_NAMESPACE, NAMESPACE, ROOT, ready_pods, wait_until
from tests.runner.test_run_e2e import write_files

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]
CHAOSLAB = str(Path(sys.executable).parent / "chaoslab")


@dataclass
class Bridged:
    testbed: TestbedClient
    cluster: TestCluster
    api: ApiClient
    bridge: Bridge
    spec: Path

    def args(self, runs: Path) -> list[str]:
        return [
            "--backend",
            "kubernetes",
            "--kubeconfig",
            str(self.cluster.kubeconfig),
            "--target",
            self.testbed.urls.service,
            "--prometheus",
            self.testbed.urls.prometheus,
            "--rules",
            str(self.testbed.run_dir.file(RULES_FILE)),
            "--runs",
            str(runs),
        ]


@pytest.fixture(scope="module")
def bridged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridged]:
    if not available():
        binaries()
    folder = tmp_path_factory.mktemp("bridged")
    spec = write_files(folder)
    options = lifecycle.UpOptions(
        profile=folder / "system.yaml",
        overrides=Overrides(alert_for=1.0),
        artifacts=folder / "artifacts",
        seed=3,
    )
    with bridged_testbed(folder, options, replicas=3) as up:
        yield Bridged(up.testbed, up.cluster, up.api, up.bridge, spec)


def _chaos_objects(api: ApiClient) -> list[str]:
    reply = client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, CHAOS_NAMESPACE, "podchaos"
    )
    return [o["metadata"]["name"] for o in reply["items"]]


def _testbed_healthy(testbed: TestbedClient) -> bool:
    return all(p["ready"] and not p["failure_injected"] for p in testbed.pods())


def _events(record: Path) -> list[dict[str, object]]:
    path = record / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_pod_failure_through_chaos_mesh_on_the_bridged_testbed(bridged: Bridged, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = subprocess.run(
        [CHAOSLAB, "run", str(bridged.spec), *bridged.args(runs), "-r", "2", "--jobs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed: 4/4 criteria passed; rollback done" in result.stdout

    (record,) = (r for r in runs.iterdir() if r.name != "kubernetes")
    events = _events(record)
    kinds = [e["kind"] for e in events]
    (inject,) = [e for e in events if e["kind"] == "inject"]
    assert inject["action"] == "pod-failure" and len(inject["targets"]) == 1  # type: ignore[arg-type]
    victim = inject["targets"][0]  # type: ignore[index]
    cluster_pods = {p.metadata.name for p in ready_pods(bridged.api)}
    assert victim.split("/")[-1] in cluster_pods  # a pod of the cluster, not of the testbed
    not_ready = next(e for e in events if e["kind"] == "pod-not-ready")
    assert not_ready["pod"] == victim.split("/")[-1]
    assert kinds.index("inject") < kinds.index("pod-not-ready") < kinds.index("pod-ready")
    assert "alert-firing" in kinds

    verdict = json.loads((record / "verdict.json").read_text())
    assert verdict["status"] == "passed"
    observed = json.loads((record / "observed.json").read_text())
    assert observed["phases"]["chaos"]["metrics"]["ready_pods_min"]["value"] == 2
    assert observed["phases"]["chaos"]["metrics"]["availability"]["value"] < 1.0

    assert _chaos_objects(bridged.api) == []
    wait_until(lambda: _testbed_healthy(bridged.testbed), 20, "testbed pods healthy")
    assert bridged.bridge.overwritten == 0  # nothing else (node lifecycle, kwok) wrote pod status
    assert not list((runs / "kubernetes").glob("*/chaos-in-flight.json"))


def _settled(bridged: Bridged) -> None:
    """Every testbed pod healthy and every cluster pod ready again (the bridge's errors if not)."""
    wait_until(lambda: _testbed_healthy(bridged.testbed), 30, "testbed pods healthy")
    try:
        wait_until(lambda: len(ready_pods(bridged.api)) == 3, 30, "3 cluster pods ready")
    except AssertionError:
        pods = client.CoreV1Api(bridged.api).list_namespaced_pod(NAMESPACE).items
        seen = [
            (
                p.metadata.name,
                p.status.phase,
                [(c.type, c.status) for c in p.status.conditions or []],
                p.metadata.deletion_timestamp,
            )
            for p in pods
        ]
        testbed = [(p["name"], p["ready"], p["failure_injected"]) for p in bridged.testbed.pods()]
        raise AssertionError(
            f"cluster {seen}; testbed {testbed}; pairs {bridged.bridge.pairs}; errors {bridged.bridge.errors}"
        ) from None


def _start_run(bridged: Bridged, runs: Path) -> subprocess.Popen[str]:
    _settled(bridged)
    return subprocess.Popen(
        [CHAOSLAB, "run", str(bridged.spec), *bridged.args(runs), "--no-predict"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_injected(runs: Path, process: subprocess.Popen[str]) -> None:
    def injected() -> bool:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        return any(e["kind"] == "inject" for r in runs.glob("pod-failure-e2e-*") for e in _events(r))

    wait_until(injected, 120, "the chaos injected")


def test_sigint_mid_chaos_leaves_no_object_behind(bridged: Bridged, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    process = _start_run(bridged, runs)
    try:
        _wait_injected(runs, process)
        assert _chaos_objects(bridged.api)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, output
    assert "rollback done" in output
    assert _chaos_objects(bridged.api) == []
    _settled(bridged)


def test_cleanup_deletes_what_a_killed_run_left_on_the_cluster(bridged: Bridged, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    process = _start_run(bridged, runs)
    try:
        _wait_injected(runs, process)
        process.kill()  # SIGKILL: no rollback, the marker stays
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    (left,) = _chaos_objects(bridged.api)
    assert list((runs / "kubernetes").glob("*/chaos-in-flight.json"))
    result = subprocess.run(
        [
            CHAOSLAB,
            "cleanup",
            "--backend",
            "kubernetes",
            "--kubeconfig",
            str(bridged.cluster.kubeconfig),
            "--runs",
            str(runs),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"deleted PodChaos {CHAOS_NAMESPACE}/{left}" in result.stdout
    assert _chaos_objects(bridged.api) == []
    _settled(bridged)
    assert not list((runs / "kubernetes").glob("*/chaos-in-flight.json"))


def test_a_gameday_on_the_kubernetes_backend_mitigates_through_the_api(
    bridged: Bridged, tmp_path: Path
) -> None:
    """`chaoslab gameday --backend kubernetes`: the scenario's PodChaos goes through Chaos Mesh, its
    alert is read from the Prometheus given, and the automatic mitigation deletes the object before
    the chaos ends; the debrief has the scenario's response times."""
    _settled(bridged)
    gameday = yaml.safe_load((ROOT / "experiments" / "gameday.yaml").read_text())
    body = gameday["spec"]
    body["mitigation"] = {"automaticAfter": "2s"}
    body["targets"] = {"alert": "20s", "mitigation": "20s", "recovery": "30s"}
    body["scenarios"] = [{"name": "one pod failed", "experiment": bridged.spec.name, "slot": "2m"}]
    body.pop("workflow")
    path = bridged.spec.parent / "gameday-k8s.yaml"
    path.write_text(yaml.safe_dump(gameday, sort_keys=False))
    runs = tmp_path / "runs"
    result = subprocess.run(
        [CHAOSLAB, "gameday", str(path), *bridged.args(runs), "-r", "2", "--jobs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    (folder,) = (r for r in runs.iterdir() if r.name != "kubernetes")
    index = json.loads((folder / "gameday.json").read_text())
    (scenario,) = index["scenarios"]
    events = _events(folder / scenario["record"])
    kinds = [e["kind"] for e in events]
    assert "alert-noticed" in kinds and "mitigate" in kinds
    mitigate = next(e for e in events if e["kind"] == "mitigate")
    recover = next(e for e in events if e["kind"] == "recover")
    chaos_end = next(e["time"] for e in events if e["kind"] == "phase" and e["phase"] == "recovery")
    assert mitigate["by"] == "automatic" and recover["time"] < chaos_end  # type: ignore[operator]
    debrief = (folder / "gameday.md").read_text()
    assert "## Scenario 1: one pod failed" in debrief and "(automatic)" in debrief
    assert _chaos_objects(bridged.api) == []
    _settled(bridged)
