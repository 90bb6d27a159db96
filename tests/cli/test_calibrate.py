"""`sim calibrate` on a run record, and `--profile` for `sim predict` and `chaoslab run`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from chaos.system import Distribution, load_system_profile
from cli.main import app as chaoslab
from cli.sim import app as sim
from tests.analysis.calibration_fakes import seed_experiment, synthetic_run, truth, write_record
from tests.cli.test_sim import EXPERIMENTS, _set_phase

runner = CliRunner()
OVERHEAD = Distribution("lognormal", 0.004, 0.8)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A synthetic run of the seed latency experiment (60 s baseline), and its calibrated profile."""
    root = tmp_path_factory.mktemp("calibrate")
    experiment = seed_experiment(60.0, root / "experiments")
    record = write_record(
        synthetic_run(truth(experiment.system, 0.033, 0.0025, OVERHEAD), experiment), root / "run"
    )
    out = root / "calibrated.yaml"
    args = ["calibrate", str(record), "--out", str(out), "--resamples", "4", "--jobs", "1"]
    result = runner.invoke(sim, args)
    assert result.exit_code == 0, result.output
    return experiment.source, out, result.output


def _baseline_p95(spec: Path, *args: str) -> tuple[float, dict[str, Any]]:
    result = runner.invoke(sim, ["predict", str(spec), "-r", "4", "--jobs", "1", "-f", "json", *args])
    assert result.exit_code == 0, result.output
    forecast = json.loads(result.stdout)
    return forecast["prediction"]["metrics"]["latency_p95"]["baseline"]["point"], forecast


def test_calibrate_writes_a_valid_profile_and_a_table(calibrated: tuple[Path, Path, str]) -> None:
    _, out, output = calibrated
    assert out.read_text().startswith("# Calibrated by `sim calibrate` from the run record ")
    validated = runner.invoke(chaoslab, ["validate", str(out)])
    assert validated.exit_code == 0, validated.output
    profile = load_system_profile(out)
    assert profile.request_overhead is not None
    assert profile.request_overhead.mean == pytest.approx(OVERHEAD.mean, rel=0.1)
    assert profile.service.service_time.mean == pytest.approx(0.033, rel=0.03)
    assert profile.calibration is not None and len(profile.parameter_sets) == 4
    for words in (
        "service time mean",
        "request overhead",
        "90 % interval",
        "Wasserstein distance",
        "p50 / p95",
    ):
        assert words in output
    assert f"wrote {out}" in output


def test_predict_with_the_calibrated_profile_matches_the_observed_baseline(
    calibrated: tuple[Path, Path, str],
) -> None:
    spec, out, _ = calibrated
    before, _ = _baseline_p95(spec)
    after, _ = _baseline_p95(spec, "--profile", str(out))
    fit = load_system_profile(out).calibration
    assert fit is not None and fit.fit is not None
    assert after == pytest.approx(fit.fit.observed.p95, abs=0.0015)
    assert after - before > 0.006  # the lognormal 4 ms overhead's share of the p95


@pytest.fixture
def short(tmp_path: Path) -> Path:
    folder = tmp_path / "experiments"
    shutil.copytree(EXPERIMENTS, folder)
    spec = folder / "network-latency.experiment.yaml"
    text = spec.read_text()
    for phase, value in (("baseline", "20s"), ("chaos", "20s"), ("recovery", "10s")):
        text = _set_phase(text, phase, value)
    spec.write_text(text)
    manifest = folder / "network-latency.yaml"
    manifest.write_text(manifest.read_text().replace("duration: 5m", "duration: 20s"))
    # no run-to-run variation: it scales the overhead too, and these tests compare exact shifts
    profile = folder / "system.yaml"
    document = yaml.safe_load(profile.read_text())
    document["spec"].pop("variation", None)
    document["spec"].pop("requestOverhead", None)  # the tests add theirs
    profile.write_text(yaml.safe_dump(document, sort_keys=False))
    return spec


def _with_overhead(folder: Path, overhead: dict[str, Any]) -> Path:
    document = yaml.safe_load((folder / "system.yaml").read_text())
    document["spec"]["requestOverhead"] = overhead
    path = folder / "with-overhead.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_predict_profile_moves_the_baseline_p95_by_a_constant_overhead(short: Path) -> None:
    profile = _with_overhead(short.parent, {"distribution": "constant", "mean": "10ms"})
    before, _ = _baseline_p95(short)
    after, forecast = _baseline_p95(short, "--profile", str(profile))
    # the overhead has its own random numbers: same pods, every latency 10 ms later
    assert after - before == pytest.approx(0.010, abs=1e-9)
    assert forecast["experiment"]["source"] == str(short)


def test_a_bad_profile_is_one_line_naming_file_field_and_value(short: Path) -> None:
    profile = _with_overhead(short.parent, {"distribution": "lognormal", "mean": "fast", "cv": 0.5})
    expected = f"InvalidSpecError: {profile}: spec.requestOverhead.mean: must be a duration"
    for app, args in ((sim, ["predict", str(short)]), (chaoslab, ["run", str(short), "--dry-run"])):
        result = runner.invoke(app, [*args, "--profile", str(profile)])
        assert result.exit_code == 1
        assert result.output.startswith(expected), result.output
        assert "(got 'fast')" in result.output and len(result.output.strip().splitlines()) == 1


def test_calibrate_on_a_folder_that_is_not_a_run_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(sim, ["calibrate", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("RunRecordReadError: ") and "run.json: missing" in result.output
