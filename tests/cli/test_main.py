"""`chaoslab run|cleanup|validate` from the command line: one clean line per user error."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli.main import app


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
