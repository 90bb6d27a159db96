"""`chaoslab score RUN_DIR...`: how well each run's prediction held, and over many runs how well
calibrated the predictor is. Works on run records alone (no testbed)."""

from __future__ import annotations

from pathlib import Path

from analysis.analyse import analyse
from analysis.coverage import coverage
from analysis.hindcast import hindcast
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


def score_cards(paths: list[Path], with_hindcast: bool = False, jobs: int = 1) -> list[tuple[ScoreCard, ...]]:
    """Per run: its score card, and with `with_hindcast` the hindcast's after it."""
    out: list[tuple[ScoreCard, ...]] = []
    for folder in run_dirs(paths):
        data = RunData.load(folder)
        analysis = analyse(data)
        card = score_run(data, analysis, folder.name)
        out.append((card, hindcast(data, analysis, folder.name, jobs=jobs)) if with_hindcast else (card,))
    return out


def score_text(paths: list[Path], fmt: str, with_hindcast: bool = False, jobs: int = 1) -> str:
    runs = score_cards(paths, with_hindcast, jobs)
    cards = [c for run in runs for c in run]
    rows = coverage([run[0] for run in runs])
    hind = coverage([run[1] for run in runs]) if with_hindcast else []
    return render_scores(cards, rows, fmt, hind)
