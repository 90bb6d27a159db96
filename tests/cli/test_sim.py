"""`sim predict` end to end on shortened copies of the seed experiments (a few seconds each)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chaos.spec import load_experiment
from chaos.system import load_system_profile
from cli.sim import app
from sim.from_spec import scenario_from_experiment
from sim.montecarlo import predict

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
RULES = ROOT / "k8s" / "alert-rules.yaml"
runner = CliRunner()


@pytest.fixture
def short(tmp_path: Path) -> Path:
    """The seed experiments with phases of 20 s / 40 s / 20 s, faults lasting the whole chaos phase."""
    folder = tmp_path / "experiments"
    shutil.copytree(EXPERIMENTS, folder)
    for spec in folder.glob("*.experiment.yaml"):
        text = spec.read_text()
        for phase in ("baseline", "chaos", "recovery"):
            text = _set_phase(text, phase, "40s" if phase == "chaos" else "20s")
        spec.write_text(text)
    for manifest in ("pod-failure.yaml", "network-latency.yaml", "feature-store-outage.yaml"):
        path = folder / manifest
        text = path.read_text()
        path.write_text(
            text.replace("duration: 10m", "duration: 40s").replace("duration: 5m", "duration: 40s")
        )
    return folder


def _set_phase(text: str, phase: str, value: str) -> str:
    lines = text.splitlines()
    inside = False
    for i, line in enumerate(lines):
        if line.strip() == "phases:":
            inside = True
        elif inside and line.strip().startswith(f"{phase}:"):
            lines[i] = line.split(":")[0] + f": {value}"
    return "\n".join(lines) + "\n"


def _predict(spec: Path, *args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(
        app,
        [
            "predict",
            str(spec),
            "--replications",
            "4",
            "--jobs",
            "1",
            "-f",
            "json",
            "--rules",
            str(RULES),
            *args,
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_network_latency_fills_every_blank(short: Path) -> None:
    forecast = _predict(short / "network-latency.experiment.yaml")
    assert forecast["schemaVersion"] == 1
    blanks = forecast["hypothesis"]["blanks"]
    assert set(blanks) == {"p95_increase", "breaker_trip", "cached_share", "availability_floor"}
    for blank in blanks.values():
        assert blank["value"] is not None
        assert blank["low"] <= blank["point"] <= blank["high"]
    assert "{" not in forecast["hypothesis"]["filled"]
    # 500 ms delay against a 100 ms per-call timeout: every call fails, so the breaker must trip,
    # and quickly (5 failures at 20 requests/s per pod take well under two seconds).
    assert 0 < blanks["breaker_trip"]["value"] < 2
    # ... and the breaker alert fires once it has been open for its `for: 10s`
    breaker = {c["name"]: c for c in forecast["criteria"]}["breaker-open alert fires"]
    assert breaker["probability"] == 1.0
    assert 10 <= breaker["predicted"]["point"] <= 20
    # Each pod has read an entity in the 20 s baseline with probability 1 - exp(-rate x 20 s), its
    # rate being the pod's share of the load spread over the entities; the 40 s of chaos are well
    # inside the entries' 5 m lifetime, so that is the share of cached answers.
    profile = load_system_profile(short / "system.yaml")
    per_entity = profile.load.rps / profile.service.replicas / profile.load.entities
    expected = 100 * (1 - math.exp(-per_entity * 20.0))
    assert blanks["cached_share"]["value"] == pytest.approx(expected, abs=3)


def _chaos_availabilities(spec: Path) -> np.ndarray:
    """Each replication's chaos-phase availability, from the library with the CLI's seed and count."""
    experiment = load_experiment(spec)
    prediction = predict(
        experiment.system, scenario_from_experiment(experiment), replications=4, seed=0, jobs=1
    )
    return prediction.values("availability", "chaos")


def test_pod_failure_predicts_each_criterion_with_a_probability(short: Path) -> None:
    spec = short / "pod-failure.experiment.yaml"
    forecast = _predict(spec)
    by_name = {c["name"]: c for c in forecast["criteria"]}
    availability = by_name["availability above 99 %"]
    assert availability["predicted"]["point"] < 1.0  # requests hit failed pods until readiness notices
    values = _chaos_availabilities(spec)
    assert availability["predicted"]["point"] == pytest.approx(values.mean())
    # 3 of the 10 pods refuse their share of the requests until readiness takes them out (about 6 s
    # of the 40 s chaos phase): some 4 % of the phase's requests fail in every replication, four
    # times what the criterion allows, so it holds in none of them.
    assert values.max() < 0.99
    assert availability["probability"] == 0.0
    assert by_name["p95 below 300 ms"]["probability"] == 1.0  # the 7 pods left serve in ~50 ms
    assert by_name["pods back to desired within 2 m"]["probability"] == 1.0  # back in ~6 s

    # 3 of 10 pods failed for the whole chaos phase: MLServicePodsUnavailable fires at once
    fires = by_name["pods-unavailable alert fires"]
    assert fires["probability"] == 1.0
    assert fires["predicted"]["point"] <= 5  # seconds from the fault's start, evaluated every 5 s
    alerts = {a["name"]: a for a in forecast["alerts"]}
    assert alerts["MLServicePodsUnavailable"]["probability"] == 1.0
    assert 40 <= alerts["MLServicePodsUnavailable"]["duration"]["point"] <= 60  # the 40 s of failure
    assert alerts["MLServiceHighErrorRate"]["probability"] == 0.0
    assert alerts["MLServicePredictionDistributionShift"]["probability"] == 0.0  # no class shift
    assert forecast["alertEvaluation"]["since"] == pytest.approx(20.011)  # the fault acts 11 ms in
    assert forecast["prediction"]["metrics"]["ready_pods_min"]["chaos"]["point"] == 7


def test_a_criterion_probability_is_the_share_of_replications_meeting_it(short: Path) -> None:
    spec = short / "pod-failure.experiment.yaml"
    values = _chaos_availabilities(spec)
    assert len(set(values.tolist())) == 4
    threshold = float(np.median(values))  # half-way between the second and the third of four
    spec.write_text(spec.read_text().replace("above: 99%", f"above: {threshold!r}"))
    (availability,) = [c for c in _predict(spec)["criteria"] if c["name"] == "availability above 99 %"]
    assert availability["threshold"] == threshold
    assert availability["probability"] == 0.5


def test_without_alerts_the_alert_criterion_is_not_predicted(short: Path) -> None:
    forecast = _predict(short / "pod-failure.experiment.yaml", "--no-alerts")
    fires = {c["name"]: c for c in forecast["criteria"]}["pods-unavailable alert fires"]
    assert fires["probability"] is None
    assert fires["note"] == "not predicted: the alert rules were not evaluated"
    assert "alerts" not in forecast and "alertEvaluation" not in forecast


def test_the_rules_default_to_k8s_and_promtool_must_be_there(
    short: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(ROOT)
    spec = str(short / "pod-kill-50.experiment.yaml")
    result = runner.invoke(app, ["predict", spec, "-r", "1", "--jobs", "1", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["alertEvaluation"]["rules"] == "k8s/alert-rules.yaml"
    monkeypatch.setenv("PATH", str(tmp_path))
    result = runner.invoke(app, ["predict", spec, "-r", "1", "--jobs", "1"])
    assert result.exit_code == 1
    assert result.output.startswith("PromtoolNotFoundError: promtool not found on PATH")
    assert "Traceback" not in result.output


def test_same_seed_same_output_and_markdown(short: Path, tmp_path: Path) -> None:
    spec = short / "pod-kill-50.experiment.yaml"
    assert _predict(spec, "--seed", "3") == _predict(spec, "--seed", "3")
    out = tmp_path / "out" / "prediction.md"
    result = runner.invoke(
        app,
        [
            "predict",
            str(spec),
            "-r",
            "2",
            "--jobs",
            "1",
            "-f",
            "markdown",
            "--out",
            str(out),
            "--rules",
            str(RULES),
        ],
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# Prediction: Kill 50 % of the pods")
    assert "| availability above 99 % |" in text
    assert "## Alerts" in text and "| MLServicePodsUnavailable | 100% |" in text


def test_bad_spec_is_one_line_and_exit_1(tmp_path: Path) -> None:
    spec = tmp_path / "x.experiment.yaml"
    spec.write_text("apiVersion: chaoslab.dev/v1alpha1\nkind: Experiment\nmetadata: {name: x}\nspec: {}\n")
    result = runner.invoke(app, ["predict", str(spec)])
    assert result.exit_code == 1
    assert result.output.startswith("InvalidSpecError: ")
    assert "Traceback" not in result.output


def test_unknown_format_is_refused(short: Path) -> None:
    result = runner.invoke(app, ["predict", str(short / "pod-failure.experiment.yaml"), "-f", "yaml"])
    assert result.exit_code == 2
    assert "format" in result.output
