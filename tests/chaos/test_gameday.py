"""The GameDay document and its Chaos Mesh Workflow."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.errors import InvalidSpecError, Problem
from chaos.gameday import load_gameday
from chaos.workflow import parse_workflow
from tests.chaos.crd import crd_errors

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_the_seed_gameday_has_three_scenarios_in_15_minute_slots() -> None:
    gameday = load_gameday(EXPERIMENTS / "gameday.yaml")
    assert [s.experiment.name for s in gameday.scenarios] == [
        "pod-kill-50",
        "feature-store-outage",
        "bad-model",
    ]
    assert all(s.slot == 900 and s.experiment.phases.total <= s.slot for s in gameday.scenarios)
    assert {p.role for p in gameday.participants} >= {"ml-engineer", "sre", "on-call"}
    assert gameday.owner("on-call") == "Alex" and gameday.owner("nobody") == "Priya"
    assert gameday.automatic_after == 30.0 and gameday.workflow is not None


def test_the_workflow_is_valid_against_the_chaos_mesh_crd_and_chaoslab() -> None:
    document = yaml.safe_load((EXPERIMENTS / "gameday-workflow.yaml").read_text())
    assert crd_errors(document) == []
    problems: list[Problem] = []
    parse_workflow(document, "gameday-workflow.yaml", problems)
    assert problems == []
    serial = document["spec"]["templates"][0]
    suspends = [t["name"] for t in document["spec"]["templates"] if t["templateType"] == "Suspend"]
    assert serial["templateType"] == "Serial" and len(suspends) == 3
    assert serial["children"][1::2] == suspends  # a Suspend after every scenario


def test_a_broken_workflow_is_reported_field_by_field() -> None:
    document = yaml.safe_load((EXPERIMENTS / "gameday-workflow.yaml").read_text())
    document["spec"]["templates"][0]["children"].append("nowhere")
    document["spec"]["templates"][1]["podChaos"]["mode"] = "some"
    problems: list[Problem] = []
    parse_workflow(document, "wf.yaml", problems)
    text = "\n".join(str(p) for p in problems)
    assert "spec.templates[0].children" in text and "'nowhere'" in text
    assert "podChaos" in text and "'some'" in text


def copy_seed(folder: Path) -> Path:
    for path in EXPERIMENTS.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    return folder / "gameday.yaml"


def edit(path: Path, change: Any) -> Path:
    doc = yaml.safe_load(path.read_text())
    change(doc["spec"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s["scenarios"][0].update(slot="1m"), "spec.scenarios[0].slot"),
        (lambda s: s["participants"][0].update(role="boss"), "spec.participants[0].role"),
        (lambda s: s.update(date="someday"), "spec.date"),
        (
            lambda s: s["scenarios"][1].update(experiment="missing.experiment.yaml"),
            "spec.scenarios[1].experiment",
        ),
        (lambda s: s.update(participants=[]), "spec.participants"),
    ],
    ids=["slot too short", "unknown role", "bad date", "missing experiment", "nobody"],
)
def test_bad_gameday_fields_are_named(tmp_path: Path, change: Any, expected: str) -> None:
    path = edit(copy_seed(tmp_path), change)
    with pytest.raises(InvalidSpecError) as caught:
        load_gameday(path)
    assert expected in str(caught.value) and "gameday.yaml" in str(caught.value)
