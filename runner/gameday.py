"""Running a GameDay: its scenarios in order, each predicted and recorded as a run, then the debrief.

Each scenario is an experiment spec run by the runner like `chaoslab run` does, with a mitigation
(runner.mitigation): automatic `mitigation.automaticAfter` seconds after the first alert, or, with
`interactive`, when the on-call presses Enter at the prompt the first alert brings (nobody acting is
fine: the chaos phase ends and the runner rolls back on its own). The GameDay's folder holds
`gameday.json` (the plan, the participants, the targets, where each scenario's run record is),
the run records, and the debrief (`gameday.md`, `gameday.html`, analysis.debrief). A scenario that
ends in error or is interrupted stops the GameDay; the debrief covers what ran.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from analysis.debrief import INDEX, read_debrief
from analysis.debrief_render import render_html, render_markdown
from chaos.gameday import GameDay, Scenario
from chaos.record import RunStatus
from runner.mitigation import AutomaticMitigation, HumanMitigation, Mitigation, Notice
from runner.results import RunResult

log = logging.getLogger(__name__)

DEBRIEF_MD = "gameday.md"
DEBRIEF_HTML = "gameday.html"

RunScenario = Callable[[Scenario, Path, Mitigation], RunResult]
"""Runs one scenario's experiment with records under the folder and the given mitigation."""
Firing = Callable[[], list[str]]


@dataclass(frozen=True)
class GameDayResult:
    folder: Path
    results: tuple[tuple[str, RunResult], ...]
    markdown: Path
    html: Path

    @property
    def completed(self) -> bool:
        return all(r.status.completed for _, r in self.results)


class _Terminal:
    """The on-call's terminal: one reader thread for the whole GameDay; a line answers the prompt
    that is open, and nothing else."""

    def __init__(self, stream: TextIO, say: Callable[[str], None]) -> None:
        self._stream, self._say = stream, say
        self._current: HumanMitigation | None = None
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="gameday-terminal", daemon=True).start()

    def mitigation(self, firing: Firing, runbook: str) -> HumanMitigation:
        def prompt(notice: Notice) -> None:
            self._say(
                f"ALERT {notice.alert} firing {notice.after:.0f} s after the fault. Runbook: {runbook}. "
                "Press Enter to run the rollback now (it runs by itself at the end of the chaos phase)."
            )

        human = HumanMitigation(firing, prompt=prompt)
        with self._lock:
            self._current = human
        return human

    def _read(self) -> None:
        for _ in iter(self._stream.readline, ""):
            with self._lock:
                current = self._current
            if current is not None and current.noticed is not None and not current.answered.is_set():
                current.answer()


def run_gameday(
    gameday: GameDay,
    runs_root: Path,
    run_scenario: RunScenario,
    firing: Callable[[Scenario], Firing],
    interactive: bool = False,
    say: Callable[[str], None] = print,
    stdin: TextIO | None = None,
    now: Callable[[], float] = time.time,
) -> GameDayResult:
    """Run every scenario in order (stopping at one that did not complete), then write the debrief."""
    folder = _folder(runs_root, gameday, now())
    index = {
        "gameday": gameday.name,
        "title": gameday.title,
        "source": str(gameday.source),
        "date": gameday.day.isoformat(),
        "participants": [{"name": p.name, "role": p.role} for p in gameday.participants],
        "targets": {
            "alert": gameday.targets.alert,
            "mitigation": gameday.targets.mitigation,
            "recovery": gameday.targets.recovery,
        },
        "interactive": interactive,
        "automaticAfter": gameday.automatic_after,
        "scenarios": [],
    }
    _write(folder / INDEX, index)
    terminal = _Terminal(stdin or sys.stdin, say) if interactive else None
    results: list[tuple[str, RunResult]] = []
    for number, scenario in enumerate(gameday.scenarios, start=1):
        say(f"scenario {number}/{len(gameday.scenarios)}: {scenario.name} ({scenario.experiment.name})")
        watch = firing(scenario)
        mitigation: Mitigation
        if terminal is not None:
            runbook = "; ".join(scenario.experiment.rollback.steps) or "roll the chaos back"
            mitigation = terminal.mitigation(watch, runbook)
        else:
            mitigation = AutomaticMitigation(watch, delay=gameday.automatic_after)
        started = now()
        result = run_scenario(scenario, folder, mitigation)
        results.append((scenario.name, result))
        index["scenarios"].append(  # type: ignore[attr-defined]
            {
                "name": scenario.name,
                "experiment": scenario.experiment.name,
                "record": result.record_dir.name,
                "status": str(result.status),
                "slot": scenario.slot,
                "started": started,
                "ended": now(),
            }
        )
        _write(folder / INDEX, index)
        say(f"  {result.status}: {result.passed}/{result.criteria} criteria; record {result.record_dir}")
        if not result.status.completed:
            say(f"  the GameDay stops here: scenario {scenario.name!r} {result.status} ({result.reason})")
            break
    debrief = read_debrief(folder)
    markdown = folder / DEBRIEF_MD
    markdown.write_text(render_markdown(debrief), encoding="utf-8")
    html = folder / DEBRIEF_HTML
    html.write_text(render_html(debrief), encoding="utf-8")
    return GameDayResult(folder, tuple(results), markdown, html)


def _folder(root: Path, gameday: GameDay, when: float) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = root / (f"gameday-{gameday.name}-{stamp}" + ("" if n == 1 else f"-{n}"))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{root}: too many GameDays at {stamp}")


def _write(path: Path, data: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


__all__ = ["DEBRIEF_HTML", "DEBRIEF_MD", "GameDayResult", "RunStatus", "run_gameday"]
