from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from chaos.errors import SimulationError
from chaos.spec import load_experiment
from sim.from_spec import scenario_from_experiment

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_pod_failure_becomes_a_pod_fault_in_the_chaos_phase() -> None:
    scenario = scenario_from_experiment(load_experiment(EXPERIMENTS / "pod-failure.experiment.yaml"))
    assert [(p.name, p.start, p.end) for p in scenario.phases] == [
        ("baseline", 0.0, 120.0),
        ("chaos", 120.0, 720.0),
        ("recovery", 720.0, 900.0),
    ]
    (fault,) = scenario.pod_faults
    assert (fault.action, fault.mode, fault.value) == ("pod-failure", "fixed-percent", "30")
    # the seed profile's faultTiming: the fault acts 11 ms after the phase starts; its 10 m (to
    # 720.011 s) end before the runner's deletion at the phase end acts, a pod-failure's 24 ms after it
    assert fault.start == pytest.approx(120.011)
    assert fault.start + fault.duration == pytest.approx(720.011)
    assert scenario.tooling_lag == pytest.approx(0.011)
    assert scenario.store_faults == ()


def test_network_latency_becomes_a_store_delay() -> None:
    scenario = scenario_from_experiment(load_experiment(EXPERIMENTS / "network-latency.experiment.yaml"))
    (fault,) = scenario.store_faults
    assert (fault.action, fault.start) == ("delay", pytest.approx(120.011))
    assert fault.start + fault.duration == pytest.approx(420.008)  # its 5 m: the whole chaos phase
    assert (fault.latency, fault.jitter, fault.correlation) == pytest.approx((0.5, 0.1, 0.25))
    assert scenario.load is not None
    assert scenario.load.rps == 200


def test_outage_becomes_total_loss() -> None:
    scenario = scenario_from_experiment(load_experiment(EXPERIMENTS / "feature-store-outage.experiment.yaml"))
    (fault,) = scenario.store_faults
    assert (fault.action, fault.loss) == ("loss", 1.0)


def test_pod_kill_is_instant() -> None:
    scenario = scenario_from_experiment(load_experiment(EXPERIMENTS / "pod-kill-50.experiment.yaml"))
    (fault,) = scenario.pod_faults
    assert fault.action == "pod-kill"
    assert fault.end(scenario.horizon) == fault.start == pytest.approx(60.011)


def test_without_fault_timing_faults_act_at_their_steps_start(tmp_path: Path) -> None:
    for name in ("system.yaml", "pod-failure.yaml", "pod-failure.experiment.yaml"):
        shutil.copy(EXPERIMENTS / name, tmp_path / name)
    profile = tmp_path / "system.yaml"
    document = yaml.safe_load(profile.read_text())
    document["spec"].pop("faultTiming")
    profile.write_text(yaml.safe_dump(document))
    scenario = scenario_from_experiment(load_experiment(tmp_path / "pod-failure.experiment.yaml"))
    (fault,) = scenario.pod_faults
    assert (fault.start, fault.duration) == (120.0, 600.0)


def test_chaos_the_model_cannot_play_is_refused(tmp_path: Path) -> None:
    for name in ("system.yaml", "pod-failure.yaml", "pod-failure.experiment.yaml"):
        shutil.copy(EXPERIMENTS / name, tmp_path / name)
    manifest = tmp_path / "pod-failure.yaml"
    manifest.write_text(manifest.read_text().replace("app: ml-prediction-service", "app: payments"))
    experiment = load_experiment(tmp_path / "pod-failure.experiment.yaml")
    with pytest.raises(SimulationError, match="does not select the service pods"):
        scenario_from_experiment(experiment)


def test_a_fault_deleted_at_the_phase_end_stops_after_its_actions_own_remove_delay() -> None:
    experiment = load_experiment(EXPERIMENTS / "pod-failure.experiment.yaml")
    short = replace(experiment, phases=replace(experiment.phases, chaos=60.0))  # deleted before its 10 m
    (fault,) = scenario_from_experiment(short).pod_faults
    assert fault.start + fault.duration == pytest.approx(180.024)  # pod-failure: removeDelays' 24 ms
    timing = replace(experiment.system.fault_timing, remove_delays={})
    plain = replace(short, system=replace(short.system, fault_timing=timing))
    (fault,) = scenario_from_experiment(plain).pod_faults
    assert fault.start + fault.duration == pytest.approx(180.008)  # else removeDelay's 8 ms
