"""What `chaoslab testbed up` prints once the testbed is up."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from cli.testbed import _summary
from testbed.config import Overrides, Plan, Ports
from testbed.rundir import RunDir


def test_the_summary_names_the_profile_with_its_overrides_and_every_address(
    tmp_path: Path, repo_root: Path
) -> None:
    plan = Plan(
        profile_path=repo_root / "experiments" / "system.yaml",
        ports=Ports.from_list(list(range(8000, 8011)), 3),
        overrides=Overrides(replicas=3, concurrency=4),
    )
    console = Console(record=True, width=200)
    console.print(_summary(plan, RunDir(tmp_path / "run")))
    text = console.export_text()
    assert "system.yaml: 3 pods x 4 model slots, 30 ms mean service time" in text
    assert "http://127.0.0.1:8000/predict" in text
    assert "8008, 8009, 8010" in text
    assert "http://127.0.0.1:8007/metrics" in text  # the node exporter
