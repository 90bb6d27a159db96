"""The runner's sequence on a fake world: phases, injection, recovery, steady state, abort, record.

Every scenario runs a 30-second experiment (10 s per phase, 10 requests per second, a one-pod
pod-failure at the start of the chaos phase) in milliseconds on a fake clock; times are exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.record import read_events
from chaos.spec import Experiment
from runner.marker import Marker
from runner.results import BlastRadiusError, RunResult
from runner.runner import Runner
from runner.state import RunOptions
from tests.analysis.forecasts import forecast
from tests.runner.runner_fakes import LOAD_DELAY, START, Bench, bench, write_experiment

ORIGIN = START + LOAD_DELAY
SETTLE = 2.0 + 2.0  # the profile's client timeout + the recorder's flush slack


def run(b: Bench, experiment: Experiment) -> RunResult:
    return Runner(experiment, b.seams, RunOptions(runs_root=b.runs)).run()


def times_of(events: list[dict[str, object]], kind: str) -> list[float]:
    return [float(str(e["time"])) - ORIGIN for e in events if e["kind"] == kind]


def events_of(result: RunResult) -> list[dict[str, object]]:
    return [e.to_json() for e in read_events(result.record_dir / "events.jsonl")]


def test_phases_follow_each_other_and_the_chaos_is_injected_and_recovered_on_time(tmp_path: Path) -> None:
    b = bench(tmp_path)
    experiment = write_experiment(tmp_path / "spec")
    result = run(b, experiment)

    assert result.status == "passed", result.reason
    assert result.exit_code == 0
    events = events_of(result)
    phases = [(e["phase"], float(str(e["time"])) - ORIGIN) for e in events if e["kind"] == "phase"]
    assert phases == [("baseline", 0.0), ("chaos", 10.0), ("recovery", 20.0), ("end", 30.0)]
    assert times_of(events, "steady-state") == [10.0]
    assert times_of(events, "inject") == [10.0]
    assert times_of(events, "recover") == [20.0]
    kinds = [e["kind"] for e in events]
    assert kinds.index("steady-state") < kinds.index("inject") < kinds.index("recover")
    assert kinds.index("load-stopped") < kinds.index("run-end")
    victim = next(e for e in events if e["kind"] == "inject")["targets"]
    assert b.world.changes == [
        (ORIGIN + 10.0, "inject-pod-failure", victim[0]),  # type: ignore[index]
        (ORIGIN + 20.0, "recover-pod-failure", victim[0]),  # type: ignore[index]
    ]
    assert times_of(events, "pod-not-ready") == [11.0]  # the first tick after the injection
    assert times_of(events, "pod-ready") == [21.0]
    assert b.load.started[0].stopped


def test_observed_metrics_and_verdict_are_written_from_the_fake_world(tmp_path: Path) -> None:
    b = bench(tmp_path)
    result = run(b, write_experiment(tmp_path / "spec"))
    observed = json.loads((result.record_dir / "observed.json").read_text())
    phases = observed["phases"]
    assert phases["baseline"]["requests"] == 100
    assert phases["baseline"]["metrics"]["availability"]["value"] == 1.0
    # one pod in three serves nothing for the whole chaos phase: its requests (round robin) fail
    victim = int(json.loads((result.record_dir / "run.json").read_text())["chaos"][0]["targets"][0][-1])
    failed = sum(1 for k in range(100, 200) if k % 3 == victim)
    assert phases["chaos"]["requests"] == 100
    assert phases["chaos"]["metrics"]["availability"]["value"] == pytest.approx(1 - failed / 100)
    assert phases["chaos"]["errors"] == {"http_503": failed}
    assert phases["chaos"]["metrics"]["ready_pods_min"]["value"] == 2
    assert phases["recovery"]["metrics"]["availability"]["value"] == 1.0
    # pods back (sampled) one second after the chaos ended, availability at once
    assert observed["pods_ready_after"] == 1.0
    assert observed["recovery_time"] == 1.0
    verdict = json.loads((result.record_dir / "verdict.json").read_text())
    assert verdict["status"] == "passed"
    assert [c["passed"] for c in verdict["criteria"]] == [True, True, True, True]
    assert verdict["criteria"][1]["observed"] == ["MLServicePodsUnavailable"]


def test_the_run_record_holds_every_file(tmp_path: Path) -> None:
    b = bench(tmp_path, predictor=lambda experiment: forecast())
    result = run(b, write_experiment(tmp_path / "spec"))
    folder = result.record_dir
    assert folder.parent == b.runs and folder.name.startswith("fake-pod-failure-")
    for name in (
        "run.json",
        "prediction.json",
        "events.jsonl",
        "pods.csv",
        "observed.json",
        "verdict.json",
        "summary.md",
        "prometheus/request_rate.json",
        "spec/fake.experiment.yaml",
        "spec/system.yaml",
        "spec/chaos.yaml",
    ):
        assert (folder / name).is_file(), name
    pods = (folder / "pods.csv").read_text().splitlines()
    assert pods[0] == "time,ready,desired"
    assert len(pods) == 1 + 31  # one sample per second, 0 to 30 s
    series = json.loads((folder / "prometheus/request_rate.json").read_text())
    assert series["query"] == "sum(rate(mlservice_requests_total[30s]))"
    assert (series["start"], series["end"], series["step"]) == (ORIGIN, ORIGIN + 30.0, 1.0)
    # Prometheus' answer as it came (the fake's: a point at each whole second of the run)
    assert series["result"] == [{"metric": {}, "values": [[ORIGIN + 0.5 + k, "1"] for k in range(30)]}]
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "passed" and info["rollback"] == {"done": True, "errors": []}
    assert info["chaos"][0]["injectedAt"] == ORIGIN + 10 and info["chaos"][0]["endedAt"] == ORIGIN + 20
    events = events_of(result)
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)  # type: ignore[type-var]
    alert = next(e for e in events if e["kind"] == "alert-firing")
    assert alert["alert"] == "MLServicePodsUnavailable"
    summary = (folder / "summary.md").read_text()
    for heading in ("Before, during, after", "Predicted vs observed", "Success criteria", "Timeline"):
        assert f"## {heading}" in summary


def test_a_fault_with_a_duration_ends_by_itself_and_the_end_is_recorded(tmp_path: Path) -> None:
    b = bench(tmp_path)
    manifest = {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "PodChaos",
        "metadata": {"name": "fail-briefly", "namespace": "chaos-testing"},
        "spec": {
            "action": "pod-failure",
            "mode": "one",
            "duration": "4s",
            "selector": {"namespaces": ["ml-services"], "labelSelectors": {"app": "ml-prediction-service"}},
        },
    }
    result = run(b, write_experiment(tmp_path / "spec", manifest=manifest, after="2s"))
    events = events_of(result)
    assert times_of(events, "inject") == [12.0]
    assert times_of(events, "recovered") == [16.0]  # noticed on the tick at the moment it ends
    assert times_of(events, "recover") == []  # nothing left to delete at the end of the phase
    info = json.loads((result.record_dir / "run.json").read_text())
    assert info["chaos"][0]["endedAt"] - ORIGIN == 16.0
    observed = json.loads((result.record_dir / "observed.json").read_text())
    assert observed["fault_start"] == 12.0 and observed["fault_end"] == 16.0
    assert observed["phases"]["chaos"]["metrics"]["availability"]["value"] == pytest.approx(1 - 14 / 100)


def test_a_manifest_hitting_more_pods_than_the_scope_allows_on_this_testbed_is_refused(
    tmp_path: Path,
) -> None:
    b = bench(tmp_path)
    experiment = write_experiment(tmp_path / "spec", max_percent=50)
    b.world.pods = b.world.pods[:1]  # one pod: 50 % of it is half a pod, mode one hits a whole one
    with pytest.raises(BlastRadiusError, match="may hit 1 of 1 pods"):
        run(b, experiment)
    assert b.world.changes == [] and b.load.started == [] and not b.runs.exists()


def test_a_network_fault_is_put_on_the_proxy_listed_in_the_marker_and_cleared(tmp_path: Path) -> None:
    b = bench(tmp_path)
    manifest = {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "NetworkChaos",
        "metadata": {"name": "store-latency", "namespace": "chaos-testing"},
        "spec": {
            "action": "delay",
            "mode": "all",
            "selector": {"namespaces": ["ml-services"], "labelSelectors": {"app": "feature-store"}},
            "delay": {"latency": "500ms", "jitter": "100ms"},
            "direction": "to",
        },
    }
    seen = []
    b.clock.at(
        ORIGIN + 15.0,
        lambda: seen.append((sorted(b.world.faults), Marker.of_testbed(b.testbed.location).read())),
    )
    hands_off = [{"name": "hands off", "noManualIntervention": True}]
    result = run(b, write_experiment(tmp_path / "spec", manifest=manifest, criteria=hands_off))

    assert result.status == "passed", result.reason
    ((faults, marker),) = seen
    assert faults == ["chaos-testing.store-latency"]
    assert marker is not None and marker.chaos[0].faults == ("chaos-testing.store-latency",)
    assert [c[1:] for c in b.world.changes] == [
        ("set-fault", "chaos-testing.store-latency"),
        ("clear-fault", "chaos-testing.store-latency"),
    ]
    assert [c[0] - ORIGIN for c in b.world.changes] == [10.0, 20.0]
    assert b.world.faults == {} and not Marker.of_testbed(b.testbed.location).path.exists()
    events = events_of(result)
    # the fake's breakers open 1 s after the fault and close 1 s after it; Prometheus sees them at its
    # next point (1 s steps)
    opened, closed = times_of(events, "breaker-open"), times_of(events, "breaker-closed")
    assert len(opened) == len(closed) == 3
    assert all(11.0 <= t < 12.0 for t in opened) and all(21.0 <= t < 22.0 for t in closed)
    assert {e["pod"] for e in events if e["kind"] == "breaker-open"} == {"pod-0", "pod-1", "pod-2"}
    summary = (result.record_dir / "summary.md").read_text()
    assert "| breaker-open on 3/3 pods |" in summary  # the three pods, one line
    observed = json.loads((result.record_dir / "observed.json").read_text())
    assert observed["breaker_first_trip"] == pytest.approx(1.0)  # the pods' record: 1 s after the fault
    assert observed["breaker_trip_source"] == "pods"
    assert "First circuit breaker trip (the pods' record): 1" in summary
