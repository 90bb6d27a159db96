"""The machine's CPU over a run: per-phase figures and used-up stretches, from HOST_CPU's answer."""

from __future__ import annotations

import pytest

from analysis.host import SATURATED_IDLE, describe, host_phases, saturated_in, saturated_stretches
from analysis.signals import Result, Signals


def answer(idle: list[float], steal: list[float], instance: str = "node-a", t0: float = 101.0) -> Result:
    """HOST_CPU's range answer for one node: one point a second from t0."""
    return [
        {
            "metric": {"instance": instance, "mode": mode},
            "values": [[t0 + i, str(v)] for i, v in enumerate(vs)],
        }
        for mode, vs in (("idle", idle), ("steal", steal))
    ]


PHASES = {"baseline": (100.0, 104.0), "chaos": (104.0, 108.0)}


def test_per_phase_shares_are_hand_computed() -> None:
    #        baseline: t=101..104          chaos: t=105..108
    idle = [0.60, 0.50, 0.40, 0.50, 0.30, 0.02, 0.00, 0.40]
    steal = [0.00, 0.00, 0.02, 0.00, 0.00, 0.10, 0.00, 0.00]
    rows = host_phases(answer(idle, steal), PHASES)
    base, chaos = rows
    assert (base.phase, base.samples, chaos.phase, chaos.samples) == ("baseline", 4, "chaos", 4)
    assert base.busy_mean == pytest.approx((0.40 + 0.50 + 0.58 + 0.50) / 4)
    assert (base.idle_min, base.steal_max, base.saturated) == (0.40, 0.02, 0)
    assert base.steal_mean == pytest.approx(0.005)
    assert chaos.busy_mean == pytest.approx((0.70 + 0.88 + 1.00 + 0.60) / 4)
    assert (chaos.idle_min, chaos.steal_max, chaos.saturated) == (0.0, 0.10, 2)
    assert saturated_in(answer(idle, steal), PHASES) == {"chaos": 2}


def test_used_up_stretches_start_a_scrape_before_their_first_sample_and_split_at_gaps() -> None:
    idle = [0.5, 0.01, 0.0, 0.5, 0.5, 0.03, 0.5]
    (first, second) = saturated_stretches(answer(idle, [0.0] * 7))
    assert (first.instance, first.start, first.end) == ("node-a", 101.0, 103.0)
    assert (second.start, second.end) == (105.0, 106.0)
    assert saturated_stretches(answer([SATURATED_IDLE] * 3, [0.0] * 3)) == []  # "under", not "at"


def test_nodes_are_kept_apart_and_named_when_there_are_several() -> None:
    both = answer([0.5] * 8, [0.0] * 8, "node-a") + answer([0.0] * 8, [0.2] * 8, "node-b")
    rows = host_phases(both, PHASES)
    assert [(r.instance, r.phase) for r in rows] == [
        ("node-a", "baseline"),
        ("node-a", "chaos"),
        ("node-b", "baseline"),
        ("node-b", "chaos"),
    ]
    assert rows[2].busy_mean == pytest.approx(0.8)  # stolen time is not the node's own work
    text = describe(both, PHASES, origin=100.0)
    assert "node-b chaos busy 80.0 %" in text and "node-b 0-8 s" in text


def test_describe_says_when_nothing_was_recorded_and_when_the_cpu_ran_out() -> None:
    assert "not recorded" in describe(None, PHASES, 100.0)
    assert "not recorded" in describe([{"metric": {}, "values": [[101, "1"]]}], PHASES, 100.0)
    idle = [0.6, 0.6, 0.6, 0.6, 0.6, 0.0, 0.0, 0.6]
    text = describe(answer(idle, [0.0] * 8), PHASES, origin=100.0)
    assert text.startswith("The machine's CPU (node exporter")
    assert "chaos busy 70.0 % (idle at least 0.0 %)" in text
    assert "used up in 2 of 4 samples" in text and "CPU used up (idle under 5.0 %): 5-7 s." in text


def test_signals_keep_the_cpu_answer_and_read_records_made_before_it() -> None:
    signals = Signals(end=110.0, host_cpu=answer([0.5], [0.0]))
    assert Signals.from_json(signals.to_json()) == signals
    old = signals.to_json()
    del old["hostCpu"]
    assert Signals.from_json(old).host_cpu is None
