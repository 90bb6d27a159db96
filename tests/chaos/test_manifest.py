from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.errors import InvalidSpecError
from chaos.manifest import load_manifest
from tests.chaos.crd import crd_errors

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
MANIFESTS = sorted(
    p
    for p in EXPERIMENTS.glob("*.yaml")
    if yaml.safe_load(p.read_text())["kind"] in ("PodChaos", "NetworkChaos")
)


def test_the_seed_manifests_are_there() -> None:
    names = {p.name for p in MANIFESTS}
    assert {
        "pod-failure.yaml",
        "network-latency.yaml",
        "pod-kill-50.yaml",
        "feature-store-outage.yaml",
    } <= names


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_is_valid_against_its_chaos_mesh_crd(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    assert crd_errors(document) == []
    load_manifest(path)  # and against chaoslab's own, stricter model


def test_the_crd_check_can_fail() -> None:
    document = yaml.safe_load((EXPERIMENTS / "pod-failure.yaml").read_text())
    document["spec"]["mode"] = "most"
    document["spec"]["value"] = 30
    errors = crd_errors(document)
    assert any("mode" in e for e in errors)
    assert any("value" in e for e in errors)


def test_pod_failure_is_the_seed_experiment() -> None:
    m = load_manifest(EXPERIMENTS / "pod-failure.yaml")
    assert (m.kind, m.name, m.namespace) == ("PodChaos", "ml-service-pod-failure", "chaos-testing")
    assert (m.action, m.mode, m.value, m.duration) == ("pod-failure", "fixed-percent", "30", 600.0)
    assert m.selector.namespaces == ("ml-services",)
    assert m.selector.label_selectors == {"app": "ml-prediction-service"}


def test_network_latency_is_the_seed_experiment() -> None:
    m = load_manifest(EXPERIMENTS / "network-latency.yaml")
    assert (m.kind, m.name, m.action, m.duration) == ("NetworkChaos", "feature-store-latency", "delay", 300.0)
    assert m.delay is not None
    assert (m.delay.latency, m.delay.jitter) == pytest.approx((0.5, 0.1))
    assert m.selector.label_selectors == {"app": "feature-store"}


def test_outage_drops_every_packet() -> None:
    m = load_manifest(EXPERIMENTS / "feature-store-outage.yaml")
    assert m.loss is not None
    assert m.loss.loss == 1.0


def _write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _broken(change: str) -> dict[str, Any]:
    document = yaml.safe_load((EXPERIMENTS / "network-latency.yaml").read_text())
    spec = document["spec"]
    if change == "mode":
        spec["mode"] = "fixed-percent"
        spec["value"] = "150"
    elif change == "latency":
        spec["delay"]["latency"] = "half a second"
    elif change == "unknown":
        spec["delay"]["jiter"] = "10ms"
    elif change == "selector":
        spec["selector"] = {}
    elif change == "duration":
        spec["duration"] = "5 minutes"
    elif change == "action":
        spec["action"] = "bandwidth"
    return copy.deepcopy(document)


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        ("mode", "spec.value", "150"),
        ("latency", "spec.delay.latency", "half a second"),
        ("unknown", "spec.delay.jiter", "10ms"),
        ("selector", "spec.selector", {}),
        ("duration", "spec.duration", "5 minutes"),
        ("action", "spec.action", "bandwidth"),
    ],
)
def test_problems_name_file_field_and_value(tmp_path: Path, change: str, field: str, value: object) -> None:
    path = _write(tmp_path, _broken(change))
    with pytest.raises(InvalidSpecError) as info:
        load_manifest(path)
    problem = next(p for p in info.value.problems if p.field == field)
    assert problem.file == str(path)
    assert problem.value == value
    assert repr(value) in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    document = _broken("latency")
    document["spec"]["mode"] = "several"
    document["metadata"]["name"] = "Not_A_Name"
    with pytest.raises(InvalidSpecError) as info:
        load_manifest(_write(tmp_path, document))
    fields = {p.field for p in info.value.problems}
    assert {"spec.delay.latency", "spec.mode", "metadata.name"} <= fields


def test_yaml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("kind: PodChaos\nspec: [unclosed\n")
    with pytest.raises(InvalidSpecError, match="line 3"):
        load_manifest(path)
