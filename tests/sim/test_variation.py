"""Run-to-run variation (profile `variation.speed`): each Monte Carlo replication stands for one run
and gets its own speed factor on service time and request overhead, so the prediction interval
holds the spread between runs; the factors depend on the seed and the replication's index only."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from chaos.errors import InvalidSpecError
from chaos.system import Distribution, SystemProfile, Variation, load_system_profile
from sim.montecarlo import predict, replication_profiles
from tests.sim.builders import run_for

ROOT = Path(__file__).resolve().parents[2]


def _system(speed: float) -> SystemProfile:
    system = load_system_profile(ROOT / "experiments" / "system.yaml")
    return replace(
        system,
        request_overhead=Distribution("lognormal", 0.004, 0.5),
        variation=Variation(speed=speed),
    )


def _factors(profiles: list[SystemProfile], base: SystemProfile) -> np.ndarray:
    return np.array([p.service.service_time.mean / base.service.service_time.mean for p in profiles])


def test_no_variation_runs_the_profile_itself() -> None:
    system = _system(0.0)
    assert replication_profiles(system, 4, seed=9) == [system] * 4


def test_each_replication_scales_service_time_and_overhead_by_one_factor() -> None:
    system = _system(0.1)
    profiles = replication_profiles(system, 6, seed=2)
    factors = _factors(profiles, system)
    assert len(set(factors.round(12))) == 6
    for p, f in zip(profiles, factors, strict=True):
        assert p.request_overhead is not None and system.request_overhead is not None
        assert p.request_overhead.mean == pytest.approx(system.request_overhead.mean * f, rel=1e-12)
        assert p.service.service_time.cv == system.service.service_time.cv
        assert p.feature_store == system.feature_store


def test_factors_depend_on_seed_and_index_not_on_the_number_of_replications() -> None:
    system = _system(0.1)
    few = _factors(replication_profiles(system, 3, seed=5), system)
    many = _factors(replication_profiles(system, 40, seed=5), system)
    assert few == pytest.approx(many[:3], rel=1e-15)
    other = _factors(replication_profiles(system, 3, seed=6), system)
    assert not np.allclose(few, other)


def test_factors_are_lognormal_with_median_one_and_the_stated_sigma() -> None:
    system = _system(0.2)
    logs = np.log(_factors(replication_profiles(system, 4000, seed=1), system))
    assert np.median(logs) == pytest.approx(0.0, abs=0.02)
    assert logs.std() == pytest.approx(0.2, rel=0.05)


def test_variation_widens_the_latency_interval() -> None:
    scenario = run_for(20.0)
    narrow = predict(_system(0.0), scenario, replications=12, seed=4, jobs=1).metric("latency_p50", "run")
    wide = predict(_system(0.3), scenario, replications=12, seed=4, jobs=1).metric("latency_p50", "run")
    assert narrow.low is not None and narrow.high is not None
    assert wide.low is not None and wide.high is not None
    assert wide.high - wide.low > 3 * (narrow.high - narrow.low)


def test_factor_is_exp_of_sigma_times_z() -> None:
    assert Variation(speed=0.25).factor(-2.0) == pytest.approx(math.exp(-0.5))
    assert Variation().factor(3.0) == 1.0


@pytest.mark.parametrize("value", [-0.1, 1.5, "fast"])
def test_a_bad_speed_is_one_line_naming_the_field(tmp_path: Path, value: object) -> None:
    doc = yaml.safe_load((ROOT / "experiments" / "system.yaml").read_text())
    doc["spec"]["variation"] = {"speed": value}
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(InvalidSpecError) as err:
        load_system_profile(path)
    assert "spec.variation.speed" in str(err.value) and str(path) in str(err.value)
