"""A run with `--profile`: the prediction and the record use the given profile, and the record keeps
its copy, so the run read back (and calibrated again) sees the profile it ran with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from analysis.record import RunData
from chaos.record import RUN, RunStatus
from chaos.spec import Experiment, load_experiment
from chaos.system import Distribution
from runner.runner import Runner
from runner.state import RunOptions
from tests.runner.runner_fakes import bench, write_experiment


def _with_profile(tmp_path: Path) -> Experiment:
    spec = write_experiment(tmp_path / "spec")
    document = yaml.safe_load((tmp_path / "spec" / "system.yaml").read_text())
    document["spec"]["requestOverhead"] = {"distribution": "constant", "mean": "7ms"}
    (tmp_path / "other").mkdir()
    profile = tmp_path / "other" / "calibrated.yaml"
    profile.write_text(yaml.safe_dump(document))
    return load_experiment(spec.source, profile)


def test_the_record_keeps_the_profile_the_run_used(tmp_path: Path) -> None:
    experiment = _with_profile(tmp_path)
    predicted: list[Experiment] = []
    b = bench(tmp_path, predictor=lambda e: predicted.append(e))
    result = Runner(experiment, b.seams, RunOptions(runs_root=b.runs)).run()
    assert result.status == RunStatus.PASSED, result.reason
    assert predicted[0].system.request_overhead == Distribution("constant", 0.007, 0.0)
    info = json.loads((result.record_dir / RUN).read_text())
    assert info["systemFile"] == "spec/calibrated.yaml"
    assert (result.record_dir / "spec" / "calibrated.yaml").is_file()
    shutil.rmtree(tmp_path / "other")  # the original profile is gone: the record's copy is what counts
    data = RunData.load(result.record_dir)
    assert data.experiment.system.request_overhead == Distribution("constant", 0.007, 0.0)
    assert data.experiment.system.source == str(result.record_dir / "spec" / "calibrated.yaml")
    assert data.series["request_rate"]["query"] == "sum(rate(mlservice_requests_total[30s]))"


def test_a_dry_run_names_the_profile(tmp_path: Path) -> None:
    experiment = _with_profile(tmp_path)
    lines = (
        Runner(experiment, bench(tmp_path).seams, RunOptions(runs_root=tmp_path / "runs")).dry_run().lines()
    )
    assert f"system profile: {tmp_path / 'other' / 'calibrated.yaml'}" in lines
