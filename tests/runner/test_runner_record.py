"""The pieces of a run record: alert intervals, the verdict against a prediction, events, the CLI's
error lines, and cleanup of a crashed run's load."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.record import read_events
from chaos import processes
from chaos.record import Event, finite
from runner.cleanup import cleanup
from runner.marker import InFlight, Marker
from runner.record import RunRecord
from tests.runner.runner_fakes import START, FakeClock, FakeTestbed, World, write_experiment


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
        # gone, by a signal: cleanup's stop reaps its own child, so Popen may only see "exited"
        load.wait(timeout=10)
        assert not processes.is_alive(load_record)
        assert load.returncode in (0, -signal.SIGTERM, -signal.SIGKILL)
        assert not marker.path.exists()
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
