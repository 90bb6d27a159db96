"""The profile's calibration fields: requestOverhead, the calibration section, weibull, --profile."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.calibration import Calibration, FitQuality, ParameterSet, Quantiles
from chaos.distributions import Distribution, weibull_cv, weibull_shape
from chaos.durations import precise_duration, rounded_duration
from chaos.errors import InvalidSpecError
from chaos.spec import load_experiment
from chaos.system import load_system_profile

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def _seed_profile() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((EXPERIMENTS / "system.yaml").read_text())
    return document


def _write(tmp_path: Path, document: dict[str, Any], name: str = "system.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_without_the_new_fields_a_profile_reads_as_before(tmp_path: Path) -> None:
    document = _seed_profile()
    document["spec"].pop("requestOverhead")
    profile = load_system_profile(_write(tmp_path, document))
    assert profile.request_overhead is None and profile.calibration is None
    assert profile.parameter_sets == ()
    assert load_system_profile(EXPERIMENTS / "system.yaml").request_overhead is not None  # the seed's


def test_request_overhead_and_calibration_read_back_as_written(tmp_path: Path) -> None:
    # what a file keeps: durations to the microsecond, cvs to four places (`rounded`)
    overhead = Distribution("weibull", 0.0031, 0.8).rounded()
    sets = (
        ParameterSet(
            Distribution("lognormal", 0.0312, 0.3).rounded(),
            Distribution("lognormal", 0.0029, 0.5).rounded(),
            overhead,
        ),
        ParameterSet(
            Distribution("lognormal", 0.0315, 0.3).rounded(),
            Distribution("gamma", 0.003, 0.5).rounded(),
            None,
        ),
    )
    r = rounded_duration
    fit = FitQuality(
        "weibull",
        r(0.0031),
        r(0.0002),
        Quantiles(r(0.035), r(0.057)),
        Quantiles(r(0.032), r(0.05)),
        Quantiles(r(0.0349), r(0.0568)),
        {"weibull": r(0.0002), "constant": r(0.0009)},
    )
    section = Calibration(
        "runs/x", "network-latency", "2026-12-01T12:00:00+00:00", 24000, 2, 10.0, 0, fit, ("a note",), sets
    )
    document = _seed_profile()
    document["spec"]["requestOverhead"] = overhead.to_document()
    document["spec"]["calibration"] = section.to_document()
    profile = load_system_profile(_write(tmp_path, document))
    assert profile.request_overhead == overhead
    assert profile.calibration == section
    applied = profile.with_parameters(sets[1])
    assert applied.service.service_time == sets[1].service_time
    assert applied.feature_store.latency == sets[1].store_latency and applied.request_overhead is None


def test_a_bad_overhead_or_parameter_set_names_file_field_and_value(tmp_path: Path) -> None:
    document = _seed_profile()
    document["spec"]["requestOverhead"] = {"distribution": "lognormal", "mean": "fast", "cv": 0.5}
    document["spec"]["calibration"] = {
        "parameterSets": [{"serviceTime": {"distribution": "pareto", "mean": "30ms"}}],
    }
    path = _write(tmp_path, document)
    with pytest.raises(InvalidSpecError) as caught:
        load_system_profile(path)
    found = [str(p) for p in caught.value.problems]
    assert (
        f"{path}: spec.requestOverhead.mean: must be a duration such as '500ms', '30s' or '10m' (got 'fast')"
        in found
    )
    assert any(
        "spec.calibration.parameterSets[0].serviceTime.distribution: must be one of" in p for p in found
    )
    assert any("spec.calibration.parameterSets[0].featureStoreLatency" in p for p in found)


def test_weibull_shape_gives_the_asked_cv() -> None:
    for cv in (0.05, 0.3, 1.0, 2.5):
        assert weibull_cv(weibull_shape(cv)) == pytest.approx(cv, rel=1e-6)
    assert weibull_shape(1.0) == pytest.approx(1.0, rel=1e-6)  # the exponential


def test_durations_keep_microseconds() -> None:
    assert precise_duration(0.0312144) == "31.214ms"
    assert precise_duration(4.0) == "4s" and precise_duration(0.003) == "3ms"
    assert rounded_duration(0.0312144) == pytest.approx(0.031214, abs=1e-12)
    assert math.isclose(rounded_duration(1e-7), 0.0)


def test_a_profile_given_instead_of_the_specs_own_replaces_it(tmp_path: Path) -> None:
    document = _seed_profile()
    document["spec"]["requestOverhead"] = {"distribution": "constant", "mean": "10ms"}
    other = _write(tmp_path, document, "calibrated.yaml")
    spec = EXPERIMENTS / "network-latency.experiment.yaml"
    experiment = load_experiment(spec, other)
    assert experiment.system.source == str(other)
    assert experiment.system.request_overhead == Distribution("constant", 0.01, 0.0)
    seed = load_experiment(spec).system.request_overhead  # the seed profile's own
    assert seed is not None and (seed.kind, seed.mean, seed.cv) == ("lognormal", pytest.approx(0.00166), 0.2)
    document["spec"]["service"]["replicas"] = "many"
    bad = _write(tmp_path, document, "bad.yaml")
    with pytest.raises(InvalidSpecError, match=r"bad\.yaml: spec\.service\.replicas: must be a whole number"):
        load_experiment(spec, bad)
