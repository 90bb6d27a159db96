"""The real alert rules evaluated by promtool on rendered replications, and its report parsed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from chaos.errors import SimulationError
from sim.alerts import alert_rules
from sim.exported import ExportedCounts
from sim.montecarlo import Prediction
from sim.promtool import (
    AlertRulesError,
    PromtoolError,
    PromtoolNotFoundError,
    evaluate_alerts,
    evaluation_phases,
    firing_rules,
    parse_firing,
    read_rule_groups,
    unit_test_file,
)
from sim.scenario import Phase
from sim.timeline import Event
from tests.sim.builders import profile
from tests.sim.test_alert_series import counts, replication

RULES = Path(__file__).resolve().parents[2] / "k8s" / "alert-rules.yaml"
PODS = 10
HORIZON = 300.0


def unready(pods: range, start: float, end: float) -> tuple[Event, ...]:
    """`pods` fail at `start` and serve and are ready again at `end` (a pod-failure)."""
    events = []
    for p in pods:
        events += [
            Event(start, "pod-down", p, "pod-failure"),
            Event(start, "pod-not-ready", p, "pod-failure"),
        ]
        events += [Event(end, "pod-up", p, "pod-failure recovered"), Event(end, "pod-ready", p, "1 check")]
    return tuple(sorted(events, key=lambda e: e.time))


def steady() -> ExportedCounts:
    """100 answers a second, all fast and successful."""
    seconds = int(HORIZON)
    c = counts(seconds, success=[100] * seconds)
    c.duration[:, 3] = 100  # 25-50 ms
    return c


def test_three_of_ten_pods_unready_for_two_minutes_fire_pods_unavailable_one_for_20_s_does_not() -> None:
    replications = (
        replication(unready(range(3), 60.0, 180.0), steady()),
        replication(unready(range(1), 60.0, 80.0), steady()),
    )
    prediction = Prediction((Phase("run", 0.0, HORIZON),), HORIZON, 0, replications)
    alerts = evaluate_alerts(prediction, profile(replicas=PODS), RULES, since=60.0, evaluation=5)
    first = alerts.first_fire("MLServicePodsUnavailable")
    # 30 % missing: at the first evaluation from 60 s on, which the replication's phase places
    assert first[0] == pytest.approx(evaluation_phases(0, 2, 5)[0])
    assert math.isnan(first[1])  # 10 % for 20 s: neither a whole minute nor 30 s without a scrape
    duration = alerts.duration("MLServicePodsUnavailable")
    assert 115.0 <= duration[0] <= 130.0 and duration[1] == 0.0
    assert alerts.probability(["MLServicePodsUnavailable"]) == 0.5
    others = {name for firing in alerts.firing for name in firing} - {"MLServicePodsUnavailable"}
    assert others == set()  # no errors, fast answers, no breaker, no fallback
    assert alerts.probability(["MLServicePredictionDistributionShift"]) is None
    assert alerts.settings().rules == str(RULES)


def test_each_replication_is_evaluated_at_its_own_phase() -> None:
    copies = tuple(replication(unready(range(3), 60.0, 180.0), steady()) for _ in range(8))
    prediction = Prediction((Phase("run", 0.0, HORIZON),), HORIZON, 7, copies)
    alerts = evaluate_alerts(prediction, profile(replicas=PODS), RULES, since=60.0, evaluation=5, jobs=2)
    phases = evaluation_phases(7, 8, 5)
    assert len(set(phases)) > 1
    # the same replication fires at the first evaluation from 60 s on: its phase after it
    assert alerts.first_fire("MLServicePodsUnavailable").tolist() == pytest.approx(phases)
    firing = alerts.firing[0]["MLServicePodsUnavailable"]
    assert all(abs((t - phases[0]) / 5 - round((t - phases[0]) / 5)) < 1e-9 for t in firing)


def test_evaluation_phases_are_uniform_below_the_interval() -> None:
    phases = evaluation_phases(3, 5000, 5)
    assert phases == evaluation_phases(3, 5000, 5) and phases != evaluation_phases(4, 5000, 5)
    assert all(0.0 <= p < 5.0 for p in phases)
    shares = np.histogram(phases, bins=5, range=(0.0, 5.0))[0] / len(phases)
    assert all(abs(share - 0.2) < 0.025 for share in shares)  # 0.2 +/- 4.4 standard errors
    every_second = evaluation_phases(3, 10, 1)
    assert all(0.0 <= p < 1.0 for p in every_second) and len(set(every_second)) == 10
    with pytest.raises(SimulationError, match="evaluation=0"):
        evaluation_phases(0, 1, 0)


def test_a_fallback_share_over_ten_percent_fires_after_its_for() -> None:
    seconds = int(HORIZON)
    c = counts(seconds, success=[100] * seconds, fallback=[0] * 100 + [50] * 200)
    prediction = Prediction((Phase("run", 0.0, HORIZON),), HORIZON, 0, (replication((), c),))
    alerts = evaluate_alerts(prediction, profile(replicas=PODS), RULES, since=100.0, evaluation=1)
    first = alerts.first_fire("MLServiceFallbackRateHigh")[0]
    # the 1 m rate passes 10 % about 12 s in (half the answers are fallbacks); then `for: 30s`
    assert 30.0 < first < 50.0
    assert alerts.evaluation == 1.0


def test_the_report_lists_every_firing_alert_per_replication_and_time() -> None:
    report = "\n".join(
        [
            "Unit Testing:  replications-0.json",
            "  FAILED:",
            '    expr: "label_replace(...)", time: 1m,',
            "        exp: nil",
            '        got: {__name__="ALERTS", alertname="A", pod="p, {x}", sim_replication="1", '
            'sim_time="60"} 1E+00, '
            '{__name__="ALERTS", alertname="A", pod="q", sim_replication="1", sim_time="60"} 1E+00, '
            '{__name__="ALERTS", alertname="B", sim_replication="1", sim_time="60"} 1E+00',
            '    expr: "label_replace(...)", time: 5s,',
            "        exp: nil",
            '        got: {__name__="ALERTS", alertname="A", sim_replication="0", sim_time="5"} 1E+00',
            "",
        ]
    )
    assert parse_firing(report, 2) == [{"A": [5.0]}, {"A": [60.0], "B": [60.0]}]
    assert parse_firing(report, 2, [0, 3.25]) == [{"A": [5.0]}, {"A": [63.25], "B": [63.25]}]
    assert parse_firing("Unit Testing:  x.json\n  SUCCESS\n", 1) == [{}]
    with pytest.raises(PromtoolError, match="unmarshal errors"):
        parse_firing("Unit Testing:  x.json\n  FAILED:\nyaml: unmarshal errors:\n  line 3\n", 1)


def test_rules_are_evaluated_without_annotations_or_constant_labels() -> None:
    groups = read_rule_groups(RULES)
    evaluated = firing_rules(groups, frozenset({"MLServicePredictionDistributionShift"}))
    rules = evaluated["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == [r.name for r in alert_rules(groups)][:-1]
    assert all(set(r) <= {"alert", "expr", "for"} for r in rules)
    templated = [
        {"name": "g", "rules": [{"alert": "X", "expr": "up == 0", "labels": {"a": "b", "p": "{{ $value }}"}}]}
    ]
    assert firing_rules(templated)["groups"][0]["rules"][0]["labels"] == {"p": "{{ $value }}"}


def test_the_unit_test_file_queries_every_evaluation() -> None:
    test = unit_test_file("rules.json", [[], []], [10.0, 8.0], scrape=1, evaluation=5)
    assert test["evaluation_interval"] == "5s"
    assert len(test["tests"]) == 2
    assert [q["eval_time"] for q in test["tests"][0]["promql_expr_test"]] == ["0s", "5s", "10s"]
    queries = test["tests"][1]["promql_expr_test"]
    assert [q["eval_time"] for q in queries] == ["0s", "5s"]
    assert (
        'ALERTS{alertstate="firing"}' in queries[0]["expr"] and '"sim_replication", "1"' in queries[0]["expr"]
    )


def test_a_rules_file_promtool_rejects_is_one_error(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: 'sum(('\n")
    prediction = Prediction((Phase("run", 0.0, 10.0),), 10.0, 0, (replication((), counts(10)),))
    with pytest.raises(PromtoolError, match="promtool test rules"):
        evaluate_alerts(prediction, profile(), bad, since=0.0)
    (tmp_path / "nogroups.yaml").write_text("rules: []\n")
    with pytest.raises(AlertRulesError, match="groups must be a list"):
        read_rule_groups(tmp_path / "nogroups.yaml")
    with pytest.raises(AlertRulesError, match=r"alert rules .*missing\.yaml: does not exist"):
        read_rule_groups(tmp_path / "missing.yaml")


def test_without_promtool_on_path_the_error_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    prediction = Prediction((Phase("run", 0.0, 10.0),), 10.0, 0, (replication((), counts(10)),))
    with pytest.raises(PromtoolNotFoundError, match="promtool not found on PATH") as caught:
        evaluate_alerts(prediction, profile(), RULES, since=0.0)
    assert "--no-alerts" in caught.value.hint
