"""Rollout steps of an experiment spec: the chaotic deployment and model rollouts, and their errors."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.errors import InvalidSpecError
from chaos.rollout import ENV_MODEL_VERSION, MODEL_ROLLOUT, ROLLOUT, Rollout
from chaos.spec import load_experiment

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"


def test_the_model_chaos_experiment_rolls_out_the_chaotic_deployment() -> None:
    experiment = load_experiment(EXPERIMENTS / "model-chaos.experiment.yaml")
    (step,) = experiment.chaos
    rollout = step.rollout
    assert isinstance(rollout, Rollout) and step.chaos_mesh is None
    assert rollout.action == ROLLOUT and rollout.kind == "Deployment"
    assert rollout.env_map == {"CHAOS_ENABLED": "true", "CHAOS_FAILURE_RATE": "0.05"}
    chaos = rollout.model_chaos(experiment.system.model_chaos)
    assert chaos.enabled
    assert chaos.total_rate == pytest.approx(0.05)
    assert chaos.exception_rate / chaos.timeout_rate == pytest.approx(5 / 2)  # the 5:2:1 mix is kept
    assert step.end is None  # rolled back when the chaos phase ends


def test_the_bad_model_experiment_rolls_out_v3_bad() -> None:
    experiment = load_experiment(EXPERIMENTS / "bad-model.experiment.yaml")
    (step,) = experiment.chaos
    rollout = step.rollout
    assert rollout is not None and rollout.action == MODEL_ROLLOUT
    assert rollout.model_version == "v3-bad" and rollout.env == ((ENV_MODEL_VERSION, "v3-bad"),)
    assert not rollout.model_chaos(experiment.system.model_chaos).enabled
    assert experiment.system.model_quality.primary_of("v3-bad") == pytest.approx(0.986)


def copy_seed(folder: Path) -> Path:
    for name in ("system.yaml", "model-chaos.experiment.yaml", "bad-model.experiment.yaml"):
        shutil.copy(EXPERIMENTS / name, folder / name)
    shutil.copy(ROOT / "k8s" / "chaotic-deployment.yaml", folder / "chaotic-deployment.yaml")
    return folder


def edit(path: Path, change: Any) -> Path:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def problems_of(path: Path) -> str:
    with pytest.raises(InvalidSpecError) as caught:
        load_experiment(path)
    return str(caught.value)


def test_a_model_version_without_quality_is_refused_naming_file_field_and_value(tmp_path: Path) -> None:
    spec = edit(
        copy_seed(tmp_path) / "bad-model.experiment.yaml",
        lambda d: d["spec"]["chaos"][0]["modelRollout"].update(version="v9"),
    )
    text = problems_of(spec)
    assert "bad-model.experiment.yaml" in text and "spec.chaos[0].modelRollout.version" in text
    assert "'v9'" in text and "modelQuality.versions" in text


def test_a_deployment_whose_strategy_differs_from_the_profile_is_refused(tmp_path: Path) -> None:
    folder = copy_seed(tmp_path)
    edit(
        folder / "chaotic-deployment.yaml",
        lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxSurge=5),
    )
    spec = edit(
        folder / "model-chaos.experiment.yaml",
        lambda d: d["spec"]["chaos"][0].update(rollout="chaotic-deployment.yaml"),
    )
    text = problems_of(spec)
    assert (
        "chaotic-deployment.yaml" in text and "spec.strategy.rollingUpdate" in text and "maxSurge 5" in text
    )


def test_bad_chaos_rates_in_the_deployment_are_refused(tmp_path: Path) -> None:
    folder = copy_seed(tmp_path)

    def rate(doc: dict[str, Any]) -> None:
        for item in doc["spec"]["template"]["spec"]["containers"][0]["env"]:
            if item["name"] == "CHAOS_FAILURE_RATE":
                item["value"] = "2"

    edit(folder / "chaotic-deployment.yaml", rate)
    spec = edit(
        folder / "model-chaos.experiment.yaml",
        lambda d: d["spec"]["chaos"][0].update(rollout="chaotic-deployment.yaml"),
    )
    assert "CHAOS_FAILURE_RATE" in problems_of(spec)


def test_a_step_with_two_kinds_and_two_rollouts_are_refused(tmp_path: Path) -> None:
    folder = copy_seed(tmp_path)
    both = {"rollout": "chaotic-deployment.yaml", "modelRollout": {"version": "v3-bad"}}
    spec = edit(folder / "bad-model.experiment.yaml", lambda d: d["spec"].update(chaos=[both]))
    assert "needs exactly one of manifest, rollout, modelRollout" in problems_of(spec)
    two = [{"modelRollout": {"version": "v3-bad"}}, {"modelRollout": {"version": "v2"}, "after": "10s"}]
    spec = edit(folder / "bad-model.experiment.yaml", lambda d: d["spec"].update(chaos=two))
    assert "may hold one rollout step at most" in problems_of(spec)


def test_a_rollout_needs_a_blast_radius_that_allows_every_pod(tmp_path: Path) -> None:
    spec = edit(
        copy_seed(tmp_path) / "bad-model.experiment.yaml",
        lambda d: d["spec"]["scope"].update(blastRadius={"maxPercent": 50}),
    )
    assert "replaces all 10 pods, above scope.blastRadius (5 pods)" in problems_of(spec)


def test_a_rollout_duration_ends_it_early_and_must_fit_the_chaos_phase(tmp_path: Path) -> None:
    folder = copy_seed(tmp_path)
    spec = edit(folder / "bad-model.experiment.yaml", lambda d: d["spec"]["chaos"][0].update(duration="1m"))
    (step,) = load_experiment(spec).chaos
    assert step.end == 60.0
    spec = edit(spec, lambda d: d["spec"]["chaos"][0].update(duration="10m"))
    assert "lengthen phases.chaos" in problems_of(spec)
