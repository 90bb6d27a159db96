"""Mitigation: when the on-call's rollback happens, automatic or by hand."""

from __future__ import annotations

from chaos.errors import ChaosLabError
from runner.mitigation import AutomaticMitigation, HumanMitigation, Notice


class Alerts:
    def __init__(self) -> None:
        self.firing: list[str] = []
        self.asked = 0
        self.broken = False

    def __call__(self) -> list[str]:
        self.asked += 1
        if self.broken:
            raise ChaosLabError("Prometheus did not answer")
        return list(self.firing)


def test_automatic_mitigation_comes_its_delay_after_the_first_alert_seen() -> None:
    alerts = Alerts()
    m = AutomaticMitigation(alerts, delay=30.0)
    assert m.observe(100.0, fault_at=90.0) is None and m.decide(100.0) is None
    alerts.firing = ["MLServicePodsUnavailable", "MLServiceHighErrorRate"]
    assert m.observe(101.0, 90.0) is None  # polled at most every POLL seconds
    notice = m.observe(102.0, 90.0)
    assert notice == Notice("MLServicePodsUnavailable", 12.0)
    assert m.observe(110.0, 90.0) is None  # the first alert is noticed once
    assert m.decide(131.9) is None
    decision = m.decide(132.0)
    assert (
        decision is not None and decision.by == "automatic" and "MLServicePodsUnavailable" in decision.reason
    )


def test_a_prometheus_hiccup_is_looked_at_again_at_the_next_poll() -> None:
    alerts = Alerts()
    alerts.broken, alerts.firing = True, ["X"]
    m = AutomaticMitigation(alerts, delay=0.0)
    assert m.observe(0.0, 0.0) is None
    alerts.broken = False
    assert m.observe(2.0, 0.0) == Notice("X", 2.0)


def test_the_on_call_is_prompted_once_and_mitigates_when_answering() -> None:
    alerts, prompts = Alerts(), []
    alerts.firing = ["MLServicePredictionDistributionShift"]
    m = HumanMitigation(alerts, prompt=prompts.append)
    assert m.decide(5.0) is None
    m.observe(5.0, 0.0)
    m.observe(9.0, 0.0)
    assert prompts == [Notice("MLServicePredictionDistributionShift", 5.0)]
    assert m.decide(9.0) is None
    m.answer()
    decision = m.decide(9.5)
    assert decision is not None and decision.by == "on-call"
