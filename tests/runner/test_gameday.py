"""A GameDay on the runner's fakes: the scenarios in order, the automatic mitigation, the debrief."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from analysis.record import read_events
from chaos.gameday import GameDay, Participant, Scenario, Targets
from chaos.record import EventKind
from runner.gameday import run_gameday
from runner.mitigation import Mitigation
from runner.results import RunResult
from runner.runner import Runner
from runner.state import RunOptions
from tests.runner.runner_fakes import START, bench, write_experiment


def test_scenarios_run_in_order_are_mitigated_after_the_alert_and_debriefed(tmp_path: Path) -> None:
    b = bench(tmp_path)
    experiment = write_experiment(tmp_path / "spec", phases=("10s", "20s", "10s"))
    people = (Participant("Priya", "ml-engineer"), Participant("Sam", "sre"), Participant("Alex", "on-call"))
    gameday = GameDay(
        "test",
        "Test GameDay",
        tmp_path / "gameday.yaml",
        date(2026, 12, 15),
        people,
        (Scenario("first", experiment, 60.0), Scenario("second", experiment, 60.0)),
        Targets(alert=2.0, mitigation=10.0, recovery=30.0),
        automatic_after=4.0,
    )
    alert_from: list[float] = []

    def firing() -> list[str]:  # an alert fires 3 s after the chaos starts, in every scenario
        return ["MLServicePodsUnavailable"] if alert_from and b.clock.t >= alert_from[-1] else []

    def run_scenario(scenario: Scenario, folder: Path, mitigation: Mitigation) -> RunResult:
        alert_from.append(b.clock.t + 0.5 + 10.0 + 3.0)  # load start, baseline, 3 s
        return Runner(scenario.experiment, b.seams, RunOptions(runs_root=folder, mitigation=mitigation)).run()

    said: list[str] = []
    result = run_gameday(gameday, tmp_path / "runs", run_scenario, lambda s: firing, say=said.append)
    assert [name for name, _ in result.results] == ["first", "second"] and result.completed
    for _, run in result.results:
        events = read_events(run.record_dir / "events.jsonl")
        inject = next(e for e in events if e.kind == EventKind.INJECT)
        noticed = next(e for e in events if e.kind == EventKind.ALERT_NOTICED)
        mitigate = next(e for e in events if e.kind == EventKind.MITIGATE)
        recover = next(e for e in events if e.kind == EventKind.RECOVER)
        assert 3.0 <= noticed.time - inject.time <= 3.0 + 2.0 + 1.0  # polled every 2 s, ticks of 1 s
        assert 4.0 <= mitigate.time - noticed.time <= 5.0 and mitigate.detail["by"] == "automatic"
        assert recover.time == mitigate.time and recover.time < inject.time + 20.0
    text = result.markdown.read_text()
    assert "## Scenario 1: first" in text and "## Scenario 2: second" in text
    assert "(automatic)" in text and "| alert to mitigation |" in text
    assert b.world.env == {} and not b.world.faults
    assert said[0].startswith("scenario 1/2: first") and b.clock.t >= START
