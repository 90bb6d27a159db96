from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
    assert (fault.action, fault.start, fault.duration, fault.mode, fault.value) == (
        "pod-failure",
        120.0,
        600.0,
        "fixed-percent",
        "30",
    )
    assert scenario.store_faults == ()


def test_network_latency_becomes_a_store_delay() -> None:
    scenario = scenario_from_experiment(load_experiment(EXPERIMENTS / "network-latency.experiment.yaml"))
    (fault,) = scenario.store_faults
    assert (fault.action, fault.start, fault.duration) == ("delay", 120.0, 300.0)
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
    assert fault.end(scenario.horizon) == fault.start == 60.0


def test_chaos_the_model_cannot_play_is_refused(tmp_path: Path) -> None:
    for name in ("system.yaml", "pod-failure.yaml", "pod-failure.experiment.yaml"):
        shutil.copy(EXPERIMENTS / name, tmp_path / name)
    manifest = tmp_path / "pod-failure.yaml"
    manifest.write_text(manifest.read_text().replace("app: ml-prediction-service", "app: payments"))
    experiment = load_experiment(tmp_path / "pod-failure.experiment.yaml")
    with pytest.raises(SimulationError, match="does not select the service pods"):
        scenario_from_experiment(experiment)
