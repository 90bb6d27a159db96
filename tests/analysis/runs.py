"""A recorded run for analysis tests: the runner on its fake world, its record on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaos.record import RunStatus
from runner.runner import Runner
from runner.state import RunOptions
from tests.analysis.forecasts import estimate, forecast
from tests.runner.runner_fakes import bench, write_experiment

CRITERIA: list[dict[str, Any]] = [
    {"name": "available", "metric": "availability", "phase": "chaos", "above": "50%"},
    {"name": "back", "podsReady": {"within": "10s"}},
]


def recorded_run(tmp_path: Path, criteria: list[dict[str, Any]] | None = None) -> Path:
    """A 30 s fake run (one of three pods failed for the chaos phase) with a small prediction."""
    predicted = forecast(
        {"available": estimate(0.9, 0.85, 0.95)},
        metrics={"availability": {"chaos": estimate(0.9, 0.85, 0.95), "baseline": estimate(1.0, 1.0, 1.0)}},
        run_metrics={"recovery_time": estimate(1.0, 0.5, 2.0)},
    )
    b = bench(tmp_path, predictor=lambda experiment: predicted)
    experiment = write_experiment(tmp_path / "spec", criteria=criteria or CRITERIA)
    result = Runner(experiment, b.seams, RunOptions(runs_root=b.runs)).run()
    assert result.status in (RunStatus.PASSED, RunStatus.FAILED), result.reason
    return result.record_dir
