"""Prometheus' answers about a run turned into alert intervals, breaker stretches and trips."""

from __future__ import annotations

from analysis.signals import Signals, firing_intervals


def test_firing_intervals_split_at_gaps_and_know_what_still_fires() -> None:
    result = [
        {
            "metric": {"alertname": "A", "alertstate": "firing"},
            "values": [[100, "1"], [101, "1"], [102, "1"], [110, "1"], [111, "1"]],
        },
        {"metric": {"alertname": "B", "alertstate": "firing"}, "values": [[105, "1"], [106, "1"]]},
    ]
    intervals = firing_intervals(result, end=111.5)
    assert [(a.name, a.start, a.end) for a in intervals] == [
        ("A", 100.0, 103.0),
        ("B", 105.0, 107.0),
        ("A", 110.0, None),  # its last point is within a step of the end: still firing
    ]
    assert firing_intervals([], end=10.0) == []


def test_signals_give_breaker_trips_and_stretches_per_pod_and_survive_json() -> None:
    opened = [
        {"metric": {"pod": "p-0"}, "values": [[100, "99.5"], [101, "99.5"], [130, "129.25"]]},
        {"metric": {"pod": "p-1"}, "values": [[100, "99.5"]]},  # the same opening as p-0's first
    ]
    not_closed = [{"metric": {"pod": "p-0"}, "values": [[100, "1"], [101, "1"], [102, "1"]]}]
    signals = Signals(end=150.0, alerts=None, breaker_opened=opened, breakers_not_closed=not_closed)
    assert signals.breaker_trips() == [99.5, 129.25]
    assert signals.breaker_stretches() == [("p-0", 100.0, 103.0)]
    assert signals.alert_intervals() == []
    again = Signals.from_json(signals.to_json())
    assert again == signals
    failed = Signals(end=1.0, errors={"alerts": "Prometheus did not answer"})
    assert Signals.from_json(failed.to_json()).errors == {"alerts": "Prometheus did not answer"}
