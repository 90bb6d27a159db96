"""A run's report files: results.md, report.html and score.json, written into its record.

`write_report` scores the run (analysis.score), derives its backlog (analysis.backlog) and writes
the three files; `report_run(path)` does it for a recorded run from its directory alone. The runner
calls `write_report` at the end of every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis.analyse import Analysis, analyse
from analysis.backlog import Item, backlog
from analysis.record import RunData
from analysis.report_html import render_html
from analysis.results import render_results
from analysis.score import ScoreCard, score_run
from chaos.record import write_json, write_text

RESULTS = "results.md"
HTML = "report.html"
SCORE = "score.json"


@dataclass(frozen=True)
class Report:
    card: ScoreCard
    items: tuple[Item, ...]
    results: Path
    html: Path


def write_report(path: Path, data: RunData, analysis: Analysis) -> Report:
    card = score_run(data, analysis, path.name)
    items = backlog(data, analysis, card)
    write_json(path / SCORE, card.to_dict())
    results = write_text(path / RESULTS, render_results(data, analysis, card, items, str(path)))
    title = f"{data.experiment.title}: {path.name}"
    html = write_text(path / HTML, render_html(data, analysis, card, items, title))
    return Report(card, tuple(items), results, html)


def report_run(path: Path) -> Report:
    """Score and report the run recorded in `path` (no testbed needed)."""
    data = RunData.load(path)
    return write_report(path, data, analyse(data))
