"""`chaoslab score RUN_DIR...`: how well each run's prediction held, and over many runs how well
calibrated the predictor is. Works on run records alone (no testbed)."""

from __future__ import annotations

from pathlib import Path

from analysis.analyse import analyse
from analysis.coverage import coverage
from analysis.record import RunData, RunRecordReadError
from analysis.score import ScoreCard, score_run
from analysis.score_render import render_scores
from chaos.record import RUN


def run_dirs(paths: list[Path]) -> list[Path]:
    """Each path that is a run record, and the run records directly inside each that is not."""
    found: list[Path] = []
    for path in paths:
        if (path / RUN).is_file():
            found.append(path)
            continue
        if not path.is_dir():
            raise RunRecordReadError(f"{path}: no such run record or folder of run records")
        inside = sorted(p for p in path.iterdir() if (p / RUN).is_file())
        if not inside:
            raise RunRecordReadError(f"{path}: holds no run record (no */{RUN})")
        found += inside
    return found


def score_cards(paths: list[Path]) -> list[ScoreCard]:
    cards = []
    for folder in run_dirs(paths):
        data = RunData.load(folder)
        cards.append(score_run(data, analyse(data), folder.name))
    return cards


def score_text(paths: list[Path], fmt: str) -> str:
    cards = score_cards(paths)
    return render_scores(cards, coverage(cards), fmt)
