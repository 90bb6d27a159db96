"""The pieces of a run record: alert intervals, the verdict against a prediction, events, the CLI's
error lines, and cleanup of a crashed run's load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chaos.cleanup import cleanup
from chaos.cli import app
from chaos.marker import InFlight, Marker
from chaos.observed import Observation, PhaseObservation, Value
from chaos.prometheus_reader import AlertInterval, firing_intervals
from chaos.run_record import Event, RunRecord, finite, read_events
from chaos.verdict import judge
from testbed import processes
from tests.chaos.runner_fakes import START, FakeClock, FakeTestbed, World, write_experiment


def test_firing_intervals_split_at_gaps_and_know_what_still_fires() -> None:
    result = [
        {
            "metric": {"alertname": "A", "alertstate": "firing"},
            "values": [[100, "1"], [101, "1"], [102, "1"], [110, "1"], [111, "1"]],
        },
        {"metric": {"alertname": "B", "alertstate": "firing"}, "values": [[105, "1"], [106, "1"]]},
    ]
    intervals = firing_intervals(result, end=111.5)
    assert [(a.name, a.start, a.end) for a in intervals] == [
        ("A", 100.0, 103.0),
        ("B", 105.0, 107.0),
        ("A", 110.0, None),  # its last point is within a step of the end: still firing
    ]
    assert firing_intervals([], end=10.0) == []


def observation(availability: float, recovery: float | None) -> Observation:
    chaos = PhaseObservation("chaos", 10.0, 20.0, 100, {"availability": Value(availability, 0.9, 0.99)})
    return Observation(0.0, (chaos,), {}, recovery, recovery, 10.0, 20.0)


def test_the_verdict_compares_each_criterion_with_the_observation_and_the_prediction(tmp_path: Path) -> None:
    criteria: list[dict[str, Any]] = [
        {"name": "available", "metric": "availability", "phase": "chaos", "above": "95%"},
        {"name": "alert", "alertsFire": ["MLServicePodsUnavailable", "MLServiceHighErrorRate"]},
        {"name": "back", "podsReady": {"within": "10s"}},
        {"name": "hands off", "noManualIntervention": True},
    ]
    experiment = write_experiment(tmp_path, criteria=criteria)
    forecast = {
        "criteria": [
            {"name": "available", "predicted": {"point": 0.96, "low": 0.95, "high": 0.97}},
            {"name": "back", "predicted": {"point": 5.0, "low": 4.0, "high": 6.0}},
        ]
    }
    alerts = [
        AlertInterval("MLServicePodsUnavailable", 1009.0, 1021.0, {}),
        AlertInterval("MLServiceHighErrorRate", 990.0, 1000.0, {}),  # before the chaos: does not count
    ]
    verdict = judge(experiment, observation(0.966, 7.0), alerts, forecast, [], chaos_start=1010.0)
    available, alert, back, hands_off = verdict.results
    assert (available.observed, available.passed, available.inside) == (0.966, True, True)
    assert not alert.passed and alert.note == "did not fire after the chaos began: MLServiceHighErrorRate"
    assert (back.observed, back.passed, back.inside, back.metric) == (7.0, True, False, "recovery_time")
    assert hands_off.passed and not verdict.passed

    worse = judge(experiment, observation(0.94, None), alerts, None, ["aborted: x"], chaos_start=1010.0)
    available, _, back, hands_off = worse.results
    assert not available.passed and available.inside is None
    assert not back.passed and back.note == "not observed (no data for it in this run)"
    assert not hands_off.passed and hands_off.observed == ["aborted: x"]
    data = worse.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data  # plain JSON: no tuple, no NaN


def test_events_survive_in_order_and_cannot_overwrite_their_own_fields(tmp_path: Path) -> None:
    experiment = write_experiment(tmp_path / "spec")
    record = RunRecord.create(tmp_path / "runs", experiment, START)
    again = RunRecord.create(tmp_path / "runs", experiment, START)
    assert record.path.name == "fake-pod-failure-20231114T221320Z" and again.path.name.endswith("Z-2")
    record.append_event(Event(START + 2, "b", {"x": 1.5}))
    record.append_event(Event(START + 1, "a", {"nan": float("nan")}))
    assert [e.kind for e in read_events(record.events_file)] == ["b", "a"]  # as they happened
    record.write_events(read_events(record.events_file))
    assert [e.kind for e in read_events(record.events_file)] == ["a", "b"]  # then in time order
    assert read_events(record.events_file)[0].detail == {"nan": None}
    with pytest.raises(ValueError, match="overwrite"):
        Event(START, "inject", {"kind": "PodChaos"})
    assert finite({"a": [1.0, float("inf")], "b": (float("nan"),)}) == {"a": [1.0, None], "b": [None]}


def test_cleanup_stops_the_load_a_crashed_run_left_running(tmp_path: Path) -> None:
    world = World(FakeClock())
    testbed = FakeTestbed(world, tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    load = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        owner = processes.ProcessRecord("chaoslab-run", gone.pid, 0)  # no such process any more
        load_record = processes.record_of("load", load.pid)
        marker = Marker.of_testbed(tmp_path)
        marker.write(InFlight(owner, str(tmp_path / "run"), str(tmp_path), START, (), load_record))
        report = cleanup(marker, testbed)
        assert report.stopped_load == load.pid and "stopped the crashed run's load" in report.describe()
        assert load.wait(timeout=10) != 0
        assert not marker.path.exists()
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()


def test_the_cli_reports_a_missing_testbed_as_one_prerequisite_line(
    tmp_path: Path, experiments_dir: Path
) -> None:
    runner = CliRunner()
    spec = str(experiments_dir / "pod-failure.experiment.yaml")
    for args in (["run", spec], ["run", spec, "--dry-run"], ["cleanup"]):
        result = runner.invoke(app, [*args, "--run-dir", str(tmp_path / "nothing")])
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("PrerequisiteError: no testbed is running")
        assert "`chaoslab testbed up`" in lines[0]


def test_the_cli_validates_the_spec_before_anything_else(tmp_path: Path) -> None:
    bad = tmp_path / "bad.experiment.yaml"
    bad.write_text("apiVersion: chaoslab.dev/v1alpha1\nkind: Experiment\nmetadata: {name: Bad}\n")
    result = CliRunner().invoke(app, ["run", str(bad), "--run-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("InvalidSpecError: ") and str(bad) in result.output
