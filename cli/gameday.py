"""`chaoslab gameday`: the GameDay's scenarios run in order on a backend, then the debrief."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from chaos.gameday import Scenario, load_gameday
from cli.backend import Backend, open_seams
from cli.run import RunDisplay, say
from runner.gameday import run_gameday
from runner.mitigation import Mitigation
from runner.prometheus import PrometheusApi
from runner.results import RunResult
from runner.runner import Runner
from runner.state import RunOptions


class _LiveAlerts:
    """The alerts firing now on the Prometheus of the scenario that is running."""

    def __init__(self) -> None:
        self.api: PrometheusApi | None = None

    def __call__(self) -> list[str]:
        return self.api.firing_alerts() if self.api is not None else []

    def use(self, url: str) -> None:
        self.close()
        self.api = PrometheusApi(url)

    def close(self) -> None:
        if self.api is not None:
            self.api.close()
            self.api = None


def gameday_command(
    path: Path,
    backend: Backend,
    runs_root: Path,
    interactive: bool,
    predict: bool,
    replications: int,
    seed: int,
    jobs: int | None,
    console: Console,
) -> int:
    """What `chaoslab gameday` does; exit 0 when every scenario completed (its criteria aside)."""
    backend.check()
    gameday = load_gameday(path)
    alerts = _LiveAlerts()

    def run_scenario(scenario: Scenario, folder: Path, mitigation: Mitigation) -> RunResult:
        experiment = scenario.experiment
        with open_seams(backend, experiment, folder, seed, predict, replications, jobs) as seams:
            alerts.use(seams.testbed.prometheus_url)
            display = RunDisplay(console)
            options = RunOptions(runs_root=folder, seed=seed, mitigation=mitigation)
            runner = Runner(experiment, seams, options, display.progress, display.event)
            try:
                with display.showing():
                    return runner.run()
            finally:
                alerts.close()

    result = run_gameday(
        gameday,
        runs_root,
        run_scenario,
        lambda scenario: alerts,
        interactive,
        lambda text: say(console, text),
    )
    say(console, f"debrief: {result.markdown} and {result.html}")
    say(console, f"GameDay record: {result.folder}")
    return 0 if result.completed else 1


__all__ = ["gameday_command"]
