"""`chaoslab score` and `chaoslab report` on run records alone: one run, a folder of runs, errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from tests.analysis.runs import recorded_run

runner = CliRunner()


def test_score_prints_each_run_and_over_several_the_coverage(tmp_path: Path) -> None:
    first = recorded_run(tmp_path / "a")
    second = recorded_run(tmp_path / "b")
    folder = tmp_path / "runs"
    folder.mkdir()
    for run in (first, second):
        run.rename(folder / f"{run.parent.parent.name}-{run.name}")
    result = runner.invoke(app, ["score", str(folder), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["run"] for r in data["runs"]] == sorted(p.name for p in folder.iterdir())
    availability = [c for c in data["coverage"] if (c["metric"], c["phase"]) == ("availability", "chaos")]
    assert (
        availability[0]["runs"] == 2 and availability[0]["covered"] == 0
    )  # 67 % observed, 85-95 % predicted
    text = runner.invoke(app, ["score", str(folder)])
    assert text.exit_code == 0 and "Calibration of the predictor over the runs" in text.output


def test_report_writes_the_report_of_a_recorded_run(tmp_path: Path) -> None:
    run = recorded_run(tmp_path)
    for name in ("results.md", "report.html", "score.json"):
        (run / name).unlink()
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("prediction confidence ")
    assert all((run / name).is_file() for name in ("results.md", "report.html", "score.json"))


def test_a_path_that_is_no_run_record_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "missing", tmp_path / "empty"):
        result = runner.invoke(app, ["score", str(path)])
        assert result.exit_code == 1
        (line,) = result.output.strip().splitlines()
        assert line.startswith("RunRecordReadError: ") and str(path) in line
