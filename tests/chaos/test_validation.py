from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from chaos.validation import validate_paths
from cli.main import app

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
runner = CliRunner()


def test_the_experiments_folder_is_valid() -> None:
    result = runner.invoke(app, ["validate", str(EXPERIMENTS)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{len(list(EXPERIMENTS.glob('*.yaml')))} file(s) valid"


def test_problems_are_one_line_each_and_exit_1(tmp_path: Path) -> None:
    shutil.copytree(EXPERIMENTS, tmp_path / "experiments")
    spec = tmp_path / "experiments" / "network-latency.experiment.yaml"
    spec.write_text(
        spec.read_text()
        .replace("chaos: 5m", "chaos: 5 minutes")
        .replace("  phases:", "  colour: red\n  phases:")
    )
    manifest = tmp_path / "experiments" / "pod-kill-50.yaml"
    manifest.write_text(manifest.read_text().replace("mode: fixed-percent", "mode: half"))
    result = runner.invoke(app, ["validate", str(tmp_path / "experiments")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("InvalidSpecError")]
    assert any(
        "network-latency.experiment.yaml: spec.phases.chaos" in line and "'5 minutes'" in line
        for line in lines
    )
    assert any("network-latency.experiment.yaml: spec.colour: is not a known field" in line for line in lines)
    assert any("pod-kill-50.yaml: spec.mode" in line and "'half'" in line for line in lines)
    assert "Traceback" not in result.output


def test_unknown_kinds_and_missing_paths_are_reported(tmp_path: Path) -> None:
    (tmp_path / "deploy.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\n")
    files, problems = validate_paths([tmp_path, tmp_path / "nope.yaml"])
    assert len(files) == 2
    assert [(p.field, p.value) for p in problems] == [
        ("kind", "Deployment"),
        ("", str(tmp_path / "nope.yaml")),
    ]
