from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.errors import ChaosLabError, InvalidSpecError
from chaos.spec import (
    AbortCondition,
    AlertsCriterion,
    NoManualInterventionCriterion,
    PodsReadyCriterion,
    ThresholdCriterion,
    load_experiment,
    metric_value,
)
from chaos.system import ModelQuality, load_system_profile

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SPECS = sorted(EXPERIMENTS.glob("*.experiment.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_seed_spec_is_valid(path: Path) -> None:
    experiment = load_experiment(path)
    assert experiment.chaos
    assert experiment.rollback.steps


def test_pod_failure_spec_carries_the_seed_success_criteria() -> None:
    e = load_experiment(EXPERIMENTS / "pod-failure.experiment.yaml")
    availability, p95, alerts, pods_ready, hands_off = e.success_criteria
    assert availability == ThresholdCriterion("availability above 99 %", "availability", "chaos", ">", 0.99)
    assert (p95.name, p95.metric, p95.phase, p95.op) == ("p95 below 300 ms", "latency_p95", "chaos", "<")
    assert p95.threshold == pytest.approx(0.3)
    assert alerts == AlertsCriterion("pods-unavailable alert fires", ("MLServicePodsUnavailable",))
    assert pods_ready == PodsReadyCriterion("pods back to desired within 2 m", within=120.0)
    assert hands_off == NoManualInterventionCriterion("no manual intervention")
    assert e.abort_conditions == (AbortCondition("availability collapse", "availability", "<", 0.9, 30.0),)
    assert e.phases.bounds()["chaos"] == (120.0, 720.0)
    assert e.chaos[0].manifest.name == "ml-service-pod-failure"
    assert e.system.service.replicas == 10


def test_network_latency_hypothesis_has_the_seed_blanks() -> None:
    e = load_experiment(EXPERIMENTS / "network-latency.experiment.yaml")
    names = {b.name: b for b in e.hypothesis.blanks}
    assert set(names) == {"p95_increase", "breaker_trip", "cached_share", "availability_floor"}
    assert names["p95_increase"].relative_to == "baseline"
    assert names["availability_floor"].bound == "low"
    filled = e.hypothesis.fill({"p95_increase": "12", "breaker_trip": "0.4"})
    assert "increases by 12 ms" in filled
    assert "{cached_share}" in filled


def test_system_profile_defaults_are_a_small_real_service() -> None:
    p = load_system_profile(EXPERIMENTS / "system.yaml")
    assert p.service.replicas == 10
    assert 0.01 <= p.service.service_time.mean <= 0.1
    assert p.load.rps == 200
    assert p.readiness.detection_time == pytest.approx(6.0)


def test_the_loads_start_delay_is_the_systems_unless_the_experiment_says(tmp_path: Path) -> None:
    system = load_system_profile(EXPERIMENTS / "system.yaml")
    assert 0.0 < system.load.start_delay < 0.1
    experiment = load_experiment(EXPERIMENTS / "pod-failure.experiment.yaml")
    assert experiment.load.start_delay == system.load.start_delay
    document = yaml.safe_load((EXPERIMENTS / "system.yaml").read_text())
    document["spec"]["load"]["startDelay"] = "soon"
    (tmp_path / "system.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(ChaosLabError, match=r"system\.yaml.*load\.startDelay.*'soon'"):
        load_system_profile(tmp_path / "system.yaml")


def test_model_quality_is_optional_and_its_shares_are_checked(tmp_path: Path) -> None:
    document = yaml.safe_load((EXPERIMENTS / "system.yaml").read_text())
    assert load_system_profile(EXPERIMENTS / "system.yaml").model_quality.default_features > 0.3
    del document["spec"]["modelQuality"]
    (tmp_path / "system.yaml").write_text(yaml.safe_dump(document))
    assert load_system_profile(tmp_path / "system.yaml").model_quality == ModelQuality()
    document["spec"]["modelQuality"] = {"primary": 1.5, "fallbackModel": 0.1, "colour": "red"}
    (tmp_path / "system.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(InvalidSpecError) as caught:
        load_system_profile(tmp_path / "system.yaml")
    problems = [str(p) for p in caught.value.problems]
    assert any("spec.modelQuality.primary" in p and "1.5" in p for p in problems), problems
    assert any("spec.modelQuality.colour" in p for p in problems), problems


@pytest.mark.parametrize(
    ("raw", "metric", "expected"),
    [
        ("99%", "availability", 0.99),
        (0.99, "availability", 0.99),
        ("300ms", "latency_p95", 0.3),
        (0.3, "latency_p95", 0.3),
        ("150%", "availability", None),
        ("300ms", "availability", None),
        ("99%", "latency_p95", None),
        (True, "availability", None),
    ],
)
def test_threshold_values_are_read_in_the_metric_unit(
    raw: object, metric: str, expected: float | None
) -> None:
    assert metric_value(raw, metric) == (pytest.approx(expected) if expected is not None else None)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name in ("system.yaml", "pod-failure.yaml", "pod-failure.experiment.yaml"):
        shutil.copy(EXPERIMENTS / name, tmp_path / name)
    return tmp_path


def _edit(workdir: Path, edit: Any) -> Path:
    path = workdir / "pod-failure.experiment.yaml"
    document = yaml.safe_load(path.read_text())
    edit(document["spec"])
    path.write_text(yaml.safe_dump(document))
    return path


def _problems(path: Path) -> dict[str, object]:
    with pytest.raises(InvalidSpecError) as info:
        load_experiment(path)
    return {p.field: p.value for p in info.value.problems}


def test_a_null_field_is_read_as_left_out(workdir: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["system"] = None  # the default, system.yaml
        spec["scope"]["blastRadius"]["maxPercent"] = None  # the default, 100
        spec["abortConditions"] = None  # none

    experiment = load_experiment(_edit(workdir, edit))
    assert experiment.scope.max_percent == 100.0
    assert experiment.abort_conditions == ()
    assert _problems(_edit(workdir, lambda s: s["phases"].update(chaos=None))) == {"spec.phases.chaos": None}


def test_numbers_must_be_finite(workdir: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["scope"]["blastRadius"]["maxPercent"] = float("nan")  # passed every range check before
        spec["successCriteria"][1]["below"] = float("inf")

    assert set(_problems(_edit(workdir, edit))) == {
        "spec.scope.blastRadius.maxPercent",
        "spec.successCriteria[1].below",
    }


def test_unknown_fields_are_errors(workdir: Path) -> None:
    path = _edit(workdir, lambda s: s["phases"].update(warmup="1m"))
    assert _problems(path) == {"spec.phases.warmup": "1m"}


def test_all_problems_are_reported_together(workdir: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["phases"]["chaos"] = "ten minutes"
        spec["scope"]["environment"] = "prod"
        spec["successCriteria"][0]["above"] = "lots"

    problems = _problems(_edit(workdir, edit))
    assert problems["spec.phases.chaos"] == "ten minutes"
    assert problems["spec.scope.environment"] == "prod"
    assert problems["spec.successCriteria[0].above"] == "lots"


def test_a_chaos_longer_than_its_phase_is_refused(workdir: Path) -> None:
    path = _edit(workdir, lambda s: s["phases"].update(chaos="5m"))
    problems = _problems(path)
    assert problems == {"spec.chaos[0].manifest": "pod-failure.yaml"}


def test_blast_radius_guard(workdir: Path) -> None:
    path = _edit(workdir, lambda s: s["scope"].update(blastRadius={"maxPercent": 20}))
    with pytest.raises(InvalidSpecError, match="may hit 3 of 10 pods"):
        load_experiment(path)


def test_namespace_outside_scope_is_refused(workdir: Path) -> None:
    path = _edit(workdir, lambda s: s["scope"].update(namespace="payments"))
    assert "spec.chaos[0].manifest" in _problems(path)


def test_problems_in_referenced_files_name_those_files(workdir: Path) -> None:
    manifest = workdir / "pod-failure.yaml"
    manifest.write_text(manifest.read_text().replace('value: "30"', 'value: "300"'))
    with pytest.raises(InvalidSpecError) as info:
        load_experiment(workdir / "pod-failure.experiment.yaml")
    (problem,) = info.value.problems
    assert (problem.file, problem.field, problem.value) == (str(manifest), "spec.value", "300")


def test_hypothesis_blanks_must_match_the_statement(workdir: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["hypothesis"]["statement"] += " Errors stay under {error_ceiling} %."

    assert _problems(_edit(workdir, edit)) == {"spec.hypothesis.blanks": "error_ceiling"}


def test_criterion_needs_exactly_one_kind(workdir: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["successCriteria"].append(
            {"name": "both", "metric": "availability", "podsReady": {"within": "1m"}}
        )

    assert "spec.successCriteria[5]" in _problems(_edit(workdir, edit))
