"""Run-to-run variation (profile `variation.speed`): each Monte Carlo replication stands for one run
and gets its own speed factor on service time and request overhead, so the prediction interval
holds the spread between runs; the factors depend on the seed and the replication's index only.
Likewise the chaos tooling's lag (`variation.faultLag`) and, for an uncalibrated profile, the
request overhead of the machine it may run on (`variation.overhead`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from chaos.calibration import Calibration
from chaos.errors import InvalidSpecError
from chaos.system import Distribution, SystemProfile, Variation, load_system_profile
from sim.montecarlo import predict, replication_lags, replication_profiles
from sim.scenario import PodFault, Scenario, StoreFault
from tests.sim.builders import run_for, three_phases

ROOT = Path(__file__).resolve().parents[2]


def _system(speed: float) -> SystemProfile:
    system = load_system_profile(ROOT / "experiments" / "system.yaml")
    return replace(
        system,
        request_overhead=Distribution("lognormal", 0.004, 0.5),
        variation=Variation(speed=speed),
    )


def _machines(sigma: float) -> SystemProfile:
    return replace(_system(0.0), variation=Variation(overhead=sigma))


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


@pytest.mark.parametrize(("system", "sigma", "ratio"), [(_system, 0.3, 3), (_machines, 0.8, 2)])
def test_variation_widens_the_latency_interval(
    system: Callable[[float], SystemProfile], sigma: float, ratio: float
) -> None:
    """Speed (service time and overhead) and the machine (the overhead alone) each widen it."""
    scenario = run_for(20.0)
    narrow = predict(system(0.0), scenario, replications=12, seed=4, jobs=1).metric("latency_p50", "run")
    wide = predict(system(sigma), scenario, replications=12, seed=4, jobs=1).metric("latency_p50", "run")
    assert narrow.low is not None and narrow.high is not None
    assert wide.low is not None and wide.high is not None
    assert wide.high - wide.low > ratio * (narrow.high - narrow.low)


def test_factor_is_exp_of_sigma_times_z() -> None:
    assert Variation(speed=0.25).factor(-2.0) == pytest.approx(math.exp(-0.5))
    assert Variation().factor(3.0) == 1.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("speed", -0.1),
        ("speed", 1.5),
        ("speed", "fast"),
        ("overhead", -0.1),
        ("overhead", 3.5),
        ("overhead", ""),
    ],
)
def test_a_bad_variation_is_one_line_naming_the_field(tmp_path: Path, field: str, value: object) -> None:
    doc = yaml.safe_load((ROOT / "experiments" / "system.yaml").read_text())
    doc["spec"]["variation"] = {field: value}
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(InvalidSpecError) as err:
        load_system_profile(path)
    assert f"spec.variation.{field}" in str(err.value) and str(path) in str(err.value)


def _lagging(lag: float) -> SystemProfile:
    system = load_system_profile(ROOT / "experiments" / "system.yaml")
    return replace(system, variation=Variation(speed=0.0, fault_lag=lag))


def _kill(tooling_lag: float = 0.011) -> Scenario:
    kill = PodFault("pod-kill", 10.0 + tooling_lag, None, "fixed", "2")
    return three_phases(10.0, 20.0, 10.0, pod_faults=(kill,), tooling_lag=tooling_lag)


def test_each_replication_gets_its_own_fault_lag_never_before_the_step() -> None:
    lags = np.array(replication_lags(_lagging(0.25), _kill(), 4000, seed=3))
    assert (lags > -0.011).all()  # the lag is a factor on the 11 ms: a fault never acts before its step
    assert np.log1p(lags / 0.011).std() == pytest.approx(0.25, rel=0.05)
    assert replication_lags(_lagging(0.25), _kill(), 3, seed=3) == pytest.approx(list(lags[:3]), rel=1e-15)
    assert replication_lags(_lagging(0.0), _kill(), 3) == [0.0] * 3
    assert replication_lags(_lagging(0.25), _kill(0.0), 3) == [0.0] * 3  # no tooling lag to vary


def test_a_lagged_scenario_moves_every_fault_and_nothing_else() -> None:
    scenario = three_phases(
        10.0,
        20.0,
        10.0,
        pod_faults=(PodFault("pod-kill", 10.011, None, "fixed", "2"),),
        store_faults=(StoreFault("partition", 10.011, 20.0),),
    )
    moved = scenario.lagged(0.004)
    assert moved.phases == scenario.phases
    assert moved.pod_faults[0].start == pytest.approx(10.015) and moved.store_faults[
        0
    ].start == pytest.approx(10.015)
    assert moved.store_faults[0].duration == 20.0
    assert scenario.lagged(0.0) is scenario
    assert scenario.lagged(-50.0).pod_faults[0].start == 0.0


def test_the_fault_lag_gives_a_deterministic_recovery_some_width() -> None:
    """A pod-kill's replacement is ready a fixed time after the kill, sampled on the runner's
    seconds; the recovery time is measured from the kill, so a run's lag is what makes it vary."""
    scenario = _kill()
    fixed = predict(_lagging(0.0), scenario, replications=6, seed=1, jobs=1).metric("recovery_time")
    spread = predict(_lagging(0.25), scenario, replications=6, seed=1, jobs=1).metric("recovery_time")
    assert fixed.low == fixed.high
    assert spread.low is not None and spread.high is not None and spread.high - spread.low > 0.001


def test_a_remove_delay_for_an_unknown_action_is_one_line_naming_it(tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "experiments" / "system.yaml").read_text())
    doc["spec"]["faultTiming"]["removeDelays"] = {"pod-explode": "5ms"}
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(InvalidSpecError) as err:
        load_system_profile(path)
    message = str(err.value)
    assert "spec.faultTiming.removeDelays.pod-explode" in message and str(path) in message
    assert "\n" not in message.strip()


def test_the_machine_factor_scales_the_request_overhead_alone() -> None:
    system = _machines(0.4)
    profiles = replication_profiles(system, 4000, seed=3)
    assert system.request_overhead is not None
    means = np.array([p.request_overhead.mean for p in profiles if p.request_overhead is not None])
    logs = np.log(means / system.request_overhead.mean)
    assert np.median(logs) == pytest.approx(0.0, abs=0.03)
    assert logs.std() == pytest.approx(0.4, rel=0.05)
    assert all(p.service == system.service and p.feature_store == system.feature_store for p in profiles)
    assert {p.request_overhead.cv for p in profiles if p.request_overhead is not None} == {0.5}
    few = replication_profiles(system, 3, seed=3)
    assert few == profiles[:3]  # the seed and the index decide, not the number of replications


def test_the_machine_factor_is_not_applied_to_a_calibrated_profile() -> None:
    system = _machines(0.4)
    calibrated = replace(system, calibration=Calibration())
    assert replication_profiles(calibrated, 5, seed=3) == [calibrated] * 5
