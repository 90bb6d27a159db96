"""The firing alerts of the replications summarised per alert, and the rules' inputs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sim.alerts import AlertPrediction, AlertRule, Firing, alert_rules
from sim.montecarlo import Estimate
from sim.promtool import read_rule_groups

RULES = Path(__file__).resolve().parents[2] / "k8s" / "alert-rules.yaml"
A, B = AlertRule("A", "up == 0"), AlertRule("B", 'mlservice_requests_total{outcome="error"} > 0')
SHIFT = AlertRule("Shift", "avg(mlservice_model_reference_positive_ratio) > 0")


def prediction() -> AlertPrediction:
    """Three replications; the fault starts at 100 s; evaluations every 5 s."""
    firing: tuple[Firing, ...] = (
        {"A": [90.0, 105.0, 110.0], "B": [120.0]},  # A fired before the fault too: only 105 on counts
        {"A": [130.0]},
        {},
    )
    return AlertPrediction("rules.yaml", (A, B, SHIFT), 100.0, 1.0, 5.0, firing)


def test_each_alert_gets_its_odds_first_fire_and_duration_from_the_fault_on() -> None:
    alerts = prediction()
    first = alerts.first_fire("A")
    assert first[:2].tolist() == [5.0, 30.0] and math.isnan(first[2])
    assert alerts.duration("A").tolist() == [10.0, 5.0, 0.0]
    a, b, shift = alerts.summaries()
    assert a.name == "A" and a.probability == 2 / 3
    # two values, 5 and 30 s: Student's t with one degree of freedom, clipped at 0 s
    half = 6.313752 * 17.67767 * math.sqrt(1.5)
    assert a.first_fire == Estimate(17.5, 0.0, pytest.approx(17.5 + half, rel=1e-6), 2)  # type: ignore[arg-type]
    assert a.duration is not None and a.duration.count == 3 and a.duration.point == 5.0
    assert b.probability == 1 / 3 and b.first_fire is not None and b.first_fire.point == 20.0
    assert shift.probability is None and shift.first_fire is None
    assert "does not model mlservice_model_reference_positive_ratio" in shift.note


def test_a_criterion_holds_where_every_named_alert_fired() -> None:
    alerts = prediction()
    assert alerts.probability(["A", "B"]) == 1 / 3
    assert alerts.time_to_all(["A", "B"]) == Estimate(20.0, 20.0, 20.0, 1)
    assert alerts.probability(["A"]) == 2 / 3
    assert alerts.probability(["A", "Shift"]) is None
    assert alerts.probability(["Nope"]) is None
    assert alerts.not_predicted("Nope") == "not predicted: no alerting rule Nope in the rules"
    assert alerts.not_predicted("A") == ""


def test_the_project_rules_read_what_the_simulator_renders_but_the_class_mix() -> None:
    rules = alert_rules(read_rule_groups(RULES))
    missing = {r.name: r.missing for r in rules}
    assert missing.pop("MLServicePredictionDistributionShift") == {
        "mlservice_predictions_total",
        "mlservice_model_reference_positive_ratio",
    }
    assert all(not m for m in missing.values()), missing
    by_name = {r.name: r for r in rules}
    assert by_name["MLServicePodsUnavailable"].metrics == {
        "kube_deployment_spec_replicas",
        "kube_deployment_status_replicas_available",
        "up",
    }
    # label values and names in strings are not metrics
    assert AlertRule("X", 'sum(rate(mlservice_x_total{state="up"}[1m])) > 0').metrics == {"mlservice_x_total"}
