"""How often the runner has the alert rules evaluated on the replications: as the system does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from runner.prediction import alert_interval
from runner.prometheus import PrometheusError, Target, rule_interval_query
from sim.promtool import EVALUATION_INTERVAL

RULES = Path(__file__).resolve().parents[2] / "k8s" / "alert-rules.yaml"


class Intervals:
    """A Prometheus that reports `seconds` as its rule groups' interval (or fails to answer)."""

    url = "http://127.0.0.1:2"

    def __init__(self, seconds: float | Exception | None) -> None:
        self.seconds = seconds
        self.asked: list[list[str]] = []

    def is_up(self) -> bool:
        return True

    def targets(self) -> list[Target]:
        return []

    def rules_loaded(self) -> int:
        return 1

    def query_range(self, query: str, start: float, end: float, step: float = 1.0) -> list[dict[str, object]]:
        return []

    def rule_interval(self, groups: Sequence[str]) -> float | None:
        self.asked.append(list(groups))
        if isinstance(self.seconds, Exception):
            raise self.seconds
        return self.seconds


@pytest.mark.parametrize(("reported", "used"), [(1.0, 1), (15.0, 15), (60.0, 60), (0.5, 1), (2.5, 3)])
def test_the_rules_are_evaluated_as_often_as_prometheus_evaluates_them(reported: float, used: int) -> None:
    prometheus = Intervals(reported)
    assert alert_interval(prometheus, RULES) == used
    assert prometheus.asked == [["ml-prediction-service"]]


@pytest.mark.parametrize("reported", [None, 0.0, float("nan"), PrometheusError("down")])
def test_without_an_interval_from_prometheus_the_default_is_used(
    reported: float | Exception | None, caplog: pytest.LogCaptureFixture
) -> None:
    assert alert_interval(Intervals(reported), RULES) == EVALUATION_INTERVAL
    assert f"alert rules evaluated every {EVALUATION_INTERVAL} s" in caplog.text


def test_without_rules_nothing_is_asked() -> None:
    prometheus = Intervals(1.0)
    assert alert_interval(prometheus, None) == EVALUATION_INTERVAL
    assert prometheus.asked == []


def test_the_interval_query_matches_the_groups_by_name_as_re2_reads_it() -> None:
    assert rule_interval_query(["ml-prediction-service"]) == (
        'max(prometheus_rule_group_interval_seconds{rule_group=~".*;(ml-prediction-service)"})'
    )
    # a dot is a literal dot, and a quote ends no string: escaped once for RE2, once for PromQL
    assert rule_interval_query(["a.b", 'c"d']) == (
        'max(prometheus_rule_group_interval_seconds{rule_group=~".*;(a\\\\.b|c\\"d)"})'
    )
