"""The runner's safety: abort, steady-state refusal, rollback on errors and signals, the crash
marker and `cleanup`, the dry run. Fake world, fake clock: exact times, milliseconds per run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.record import read_events
from chaos.errors import ChaosLabError, PrerequisiteError
from chaos.processes import ProcessRecord, record_of
from chaos.spec import Experiment
from runner.cleanup import cleanup, still_injected
from runner.executors.local import NetworkFaultSpec
from runner.marker import ChaosState, InFlight, InjectedChaos, Marker, RunInProgressError
from runner.results import RunResult
from runner.runner import Runner
from runner.state import RunOptions
from tests.runner.runner_fakes import LOAD_DELAY, START, Bench, bench, write_experiment

ORIGIN = START + LOAD_DELAY
SETTLE = 4.0  # the profile's client timeout (2 s) + the recorder's flush slack (2 s)


def run(b: Bench, experiment: Experiment) -> RunResult:
    return Runner(experiment, b.seams, RunOptions(runs_root=b.runs)).run()


def events(result: RunResult) -> list[dict[str, object]]:
    return [e.to_json() for e in read_events(result.record_dir / "events.jsonl")]


def at(result: RunResult, kind: str) -> list[float]:
    return [float(str(e["time"])) - ORIGIN for e in events(result) if e["kind"] == kind]


def nothing_left(b: Bench) -> bool:
    pods_clean = not any(p.failure_injected or not p.ready for p in b.world.pods)
    executor_clean = all(s.conditions["AllRecovered"] for s in b.executor.statuses())
    return pods_clean and not b.world.faults and executor_clean


def marker(b: Bench) -> Marker:
    return Marker.of_testbed(b.testbed.location)


# -- abort --------------------------------------------------------------------------------------
def test_an_abort_condition_fires_after_its_for_seconds_and_the_chaos_is_rolled_back(tmp_path: Path) -> None:
    b = bench(tmp_path)
    aborts = [{"name": "too many errors", "metric": "availability", "below": "90%", "for": "3s"}]
    result = run(b, write_experiment(tmp_path / "spec", aborts=aborts))

    assert result.status == "aborted" and result.exit_code == 1
    assert result.rollback_done and nothing_left(b) and not marker(b).path.exists()
    # seconds 10, 11 and 12 are violated (2 of 3 pods serve); second 12 closes once its records
    # have settled (4 s), so the tick at 17 s fires the abort
    assert at(result, "abort") == [17.0]
    info = json.loads((result.record_dir / "run.json").read_text())
    assert info["abort"]["since"] == 10.0 and info["abort"]["at"] == 13.0
    assert info["abort"]["value"] == pytest.approx(2 / 3, abs=0.1)
    assert at(result, "rollback") == [17.0]
    assert b.world.changes[-1][1:] == ("recover-pod-failure", info["chaos"][0]["targets"][0])
    assert b.world.changes[-1][0] - ORIGIN == 17.0
    assert at(result, "recover") == [] and at(result, "phase")[-1] == 10.0  # no later phase began
    verdict = json.loads((result.record_dir / "verdict.json").read_text())
    assert verdict["status"] == "aborted"
    hands_off = next(c for c in verdict["criteria"] if c["name"] == "hands off")
    assert not hands_off["passed"] and hands_off["observed"][0].startswith("aborted: too many errors")
    assert b.load.started[0].stopped


def test_an_abort_condition_that_holds_for_less_than_its_for_does_not_fire(tmp_path: Path) -> None:
    b = bench(tmp_path)
    aborts = [{"name": "patient", "metric": "availability", "below": "90%", "for": "11s"}]
    result = run(b, write_experiment(tmp_path / "spec", aborts=aborts))
    assert result.status == "passed" and at(result, "abort") == []


# -- steady state -------------------------------------------------------------------------------
def test_a_baseline_below_the_thresholds_refuses_to_inject(tmp_path: Path) -> None:
    b = bench(tmp_path, flaky=10)  # every tenth request fails: 90 % availability
    criteria = [
        {"name": "three nines in chaos", "metric": "availability", "phase": "chaos", "above": "99.9%"}
    ]
    result = run(b, write_experiment(tmp_path / "spec", criteria=criteria))

    assert result.status == "refused" and result.exit_code == 1
    # at 10 s the records of the first 6 s have settled: requests 0..60, of which 0, 10, ..., 60 failed
    assert result.reason == "baseline availability 0.8852 is not > 0.999 (three nines in chaos)"
    assert b.world.changes == [], "nothing was injected"
    assert at(result, "steady-state") == [10.0] and at(result, "inject") == []
    assert result.rollback_done and not marker(b).path.exists()
    steady = json.loads((result.record_dir / "run.json").read_text())["steadyState"]
    assert steady["holds"] is False and steady["requests"] == 61
    assert steady["values"]["availability"] == pytest.approx(54 / 61)
    assert b.load.started[0].stopped


# -- rollback on errors and signals --------------------------------------------------------------
def test_an_error_during_the_chaos_phase_rolls_back_and_is_recorded(tmp_path: Path) -> None:
    b = bench(tmp_path)
    b.world.down_from = ORIGIN + 15.0  # the testbed's pod listing fails from 15 s on
    result = run(b, write_experiment(tmp_path / "spec"))

    assert result.status == "error" and "the testbed stopped answering" in result.reason
    assert any(c[1] == "recover-pod-failure" and c[0] - ORIGIN == 15.0 for c in b.world.changes)
    assert not any(p.failure_injected for p in b.world.pods)
    # the testbed cannot confirm the rollback (pods do not answer): the marker stays for cleanup
    assert not result.rollback_done and marker(b).path.exists()
    b.world.down_from = None
    report = cleanup(marker(b), b.testbed)
    assert report.recovered_pods == [] and not marker(b).path.exists()


def test_an_unexpected_exception_rolls_back_then_propagates(tmp_path: Path) -> None:
    b = bench(tmp_path)

    def explode() -> None:
        raise RuntimeError("bug in a seam")

    b.clock.at(ORIGIN + 12.5, explode)
    with pytest.raises(RuntimeError, match="bug in a seam"):
        run(b, write_experiment(tmp_path / "spec"))
    assert nothing_left(b) and not marker(b).path.exists()
    record = next(b.runs.iterdir())
    info = json.loads((record / "run.json").read_text())
    assert info["status"] == "error" and info["reason"] == "RuntimeError: bug in a seam"
    assert info["rollback"]["done"] is True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_rolls_back_and_the_previous_handler_is_restored(tmp_path: Path, signum: int) -> None:
    b = bench(tmp_path)
    before = signal.getsignal(signum)
    b.clock.at(ORIGIN + 14.2, lambda: os.kill(os.getpid(), signum))
    result = run(b, write_experiment(tmp_path / "spec"))

    assert result.status == "interrupted" and result.exit_code == 130
    assert signal.Signals(signum).name in result.reason
    assert nothing_left(b) and result.rollback_done and not marker(b).path.exists()
    recovered_at = [c[0] - ORIGIN for c in b.world.changes if c[1] == "recover-pod-failure"]
    assert recovered_at == [pytest.approx(14.2)]
    assert signal.getsignal(signum) == before
    assert b.load.started[0].stopped


# -- the crash marker ----------------------------------------------------------------------------
def test_the_marker_lists_the_chaos_in_flight_and_is_gone_after_the_rollback(tmp_path: Path) -> None:
    b = bench(tmp_path)
    seen: list[InFlight | None] = []
    b.clock.at(ORIGIN + 5.0, lambda: seen.append(marker(b).read()))
    b.clock.at(ORIGIN + 15.0, lambda: seen.append(marker(b).read()))
    b.clock.at(ORIGIN + 25.0, lambda: seen.append(marker(b).read()))
    result = run(b, write_experiment(tmp_path / "spec"))

    before, during, after = seen
    assert before is not None and before.chaos == () and before.owner.pid == os.getpid()
    assert during is not None and during.record_dir == str(result.record_dir)
    (entry,) = during.chaos
    assert (entry.action, entry.state, entry.key) == (
        "pod-failure",
        ChaosState.INJECTED,
        "chaos-testing/fail-one",
    )
    targets = json.loads((result.record_dir / "run.json").read_text())["chaos"][0]["targets"]
    assert entry.targets == tuple(targets) and len(targets) == 1  # mode one: the run's victim
    assert entry.targets[0] in {p.name for p in b.world.pods}
    assert after is not None and after.chaos[0].state == "recovered"
    assert not marker(b).path.exists()


def test_a_failed_rollback_keeps_the_marker_and_cleanup_recovers_what_it_lists(tmp_path: Path) -> None:
    b = bench(tmp_path)
    b.world.refuse_recovery = 1  # the testbed refuses the first recovery (the one at the phase end)
    b.clock.at(ORIGIN + 12.0, lambda: os.kill(os.getpid(), signal.SIGTERM))
    result = run(b, write_experiment(tmp_path / "spec"))

    victim = next(p for p in b.world.pods if p.failure_injected)
    assert not result.rollback_done
    info = json.loads((result.record_dir / "run.json").read_text())
    assert info["rollback"]["errors"] == [
        f"chaos-testing/fail-one: pod {victim.name} still has its failure injected"
    ]
    left = marker(b).read()
    assert left is not None and left.chaos[0].targets == (victim.name,)

    report = cleanup(marker(b), b.testbed, clock=b.clock.now)
    assert report.recovered_pods == [victim.name] and report.marker == str(result.record_dir)
    assert not victim.failure_injected and not marker(b).path.exists()
    assert read_events(result.record_dir / "events.jsonl")[-1].kind == "cleanup"


def test_the_next_run_recovers_what_a_crashed_run_left(tmp_path: Path) -> None:
    b = bench(tmp_path)
    left = InjectedChaos(
        "PodChaos", "pod-failure", "chaos-testing", "old", "old.yaml", ChaosState.INJECTED, ("pod-2",)
    )
    gone = InFlight(_dead_owner(), str(tmp_path / "old-run"), b.testbed.location, START - 100, (left,))
    b.world.pod("pod-2").failure_injected, b.world.pod("pod-2").ready = True, False
    marker(b).write(gone)

    result = run(b, write_experiment(tmp_path / "spec"))
    assert result.status == "passed", result.reason
    cleaned = next(e for e in events(result) if e["kind"] == "cleanup")
    assert cleaned["report"]["recovered_pods"] == ["pod-2"]  # type: ignore[index]
    assert not marker(b).path.exists()


def _dead_owner() -> ProcessRecord:
    """The process record of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        owner = record_of("chaoslab-run", child.pid, [])
    finally:
        child.kill()
        child.wait()
    return owner


def test_cleanup_refuses_while_the_run_that_wrote_the_marker_still_runs(tmp_path: Path) -> None:
    b = bench(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        owner = record_of("chaoslab-run", child.pid, [])
        marker(b).write(InFlight(owner, str(tmp_path / "live-run"), b.testbed.location, START))
        with pytest.raises(RunInProgressError, match=f"pid {child.pid}"):
            cleanup(marker(b), b.testbed)
        with pytest.raises(RunInProgressError):
            run(b, write_experiment(tmp_path / "spec"))
    finally:
        child.kill()
        child.wait()
    assert marker(b).path.exists() and b.world.changes == []


def test_cleanup_all_sweeps_faults_no_marker_knows_about(tmp_path: Path) -> None:
    b = bench(tmp_path)
    b.world.pod("pod-1").failure_injected = True
    b.world.faults["chaos-testing.stray"] = NetworkFaultSpec("chaos-testing.stray", "to", latency=0.1)
    assert cleanup(marker(b), b.testbed).describe() == "nothing was left injected"
    report = cleanup(marker(b), b.testbed, sweep_all=True)
    assert report.recovered_pods == ["pod-1"] and report.cleared_faults == ["chaos-testing.stray"]
    assert not b.world.faults and not b.world.pod("pod-1").failure_injected


def test_cleanup_rolls_back_a_rollout_a_crashed_run_left_and_sweeps_one_nobody_knows(tmp_path: Path) -> None:
    b = bench(tmp_path)
    left = InjectedChaos(
        "Deployment", "model-rollout", "ml-services", "ml-prediction-service", "bad.yaml", ChaosState.INJECTED
    )
    b.world.env = {"CHAOSLAB_MODEL_VERSION": "v3-bad"}
    assert still_injected((left,), b.testbed) == [
        "ml-services/ml-prediction-service: the rollout's template is still in place "
        "({'CHAOSLAB_MODEL_VERSION': 'v3-bad'})"
    ]
    marker(b).write(
        InFlight(_dead_owner(), str(tmp_path / "old-run"), b.testbed.location, START - 100, (left,))
    )
    report = cleanup(marker(b), b.testbed)
    assert report.rolled_back == ["ml-services/ml-prediction-service"] and b.world.env == {}
    assert "rolled back ml-services/ml-prediction-service" in report.describe()
    b.world.env = {"CHAOS_ENABLED": "true"}  # no marker names it: only --all finds it
    assert cleanup(marker(b), b.testbed).rolled_back == []
    assert cleanup(marker(b), b.testbed, sweep_all=True).rolled_back == ["the service's deployment"]
    assert b.world.env == {}


# -- prerequisites and dry run -------------------------------------------------------------------
def test_prerequisites_name_every_problem_at_once(tmp_path: Path) -> None:
    b = bench(tmp_path)
    b.world.pod("pod-1").ready = False
    b.prometheus.up = False
    b.testbed.rules = []
    with pytest.raises(PrerequisiteError) as caught:
        run(b, write_experiment(tmp_path / "spec"))
    line = caught.value.one_line()
    assert "pods not ready: pod-1" in line and "Prometheus at http://127.0.0.1:2 does not answer" in line
    assert b.world.changes == [] and b.load.started == [] and not b.runs.exists()


def test_a_stopped_testbed_is_a_prerequisite_error_naming_the_command(tmp_path: Path) -> None:
    b = bench(tmp_path)
    b.testbed.state = "stopped"
    with pytest.raises(PrerequisiteError, match="is stopped, not running") as caught:
        run(b, write_experiment(tmp_path / "spec"))
    assert "`chaoslab testbed up`" in caught.value.one_line()


def test_a_dry_run_shows_the_targets_and_touches_nothing(tmp_path: Path) -> None:
    b = bench(tmp_path)
    experiment = write_experiment(tmp_path / "spec", after="3s")
    plan = Runner(experiment, b.seams, RunOptions(runs_root=b.runs)).dry_run()

    assert b.world.changes == [] and b.load.started == [] and b.executor.statuses() == []
    assert not b.runs.exists() and not marker(b).path.exists() and b.prometheus.queries == []
    (step,) = plan.steps
    assert step.at == 13.0 and step.ends is None and len(step.targets) == 1
    assert step.targets[0] in {p.name for p in b.world.pods}
    text = "\n".join(plan.lines())
    assert "at 13 s: PodChaos/fail-one pod-failure mode=one" in text and step.targets[0] in text
    # the same seed picks the same pod in the run
    fresh = bench(tmp_path / "again")
    result = run(fresh, write_experiment(tmp_path / "spec2", after="3s"))
    assert json.loads((result.record_dir / "run.json").read_text())["chaos"][0]["targets"] == list(
        step.targets
    )
    with pytest.raises(ChaosLabError):  # a dry run of an impossible step fails like the run would
        b.world.pods = []
        Runner(experiment, b.seams, RunOptions(runs_root=b.runs)).dry_run()
