"""The fault model: validation, merging, and the statistics of the samplers (seeded, no clock)."""

from __future__ import annotations

import random
import statistics

import pytest

from testbed.faults import (
    Delay,
    DelaySampler,
    FaultError,
    Loss,
    LossSampler,
    NetworkFault,
    merge,
    retransmission_delays,
)

DRAWS = 20_000


def lag1(xs: list[float]) -> float:
    return statistics.correlation(xs[:-1], xs[1:])


def test_delay_draws_are_normal_around_latency_with_jitter_as_standard_deviation() -> None:
    sampler = DelaySampler(random.Random(1))
    draws = [sampler.draw(Delay(0.2, 0.05)) for _ in range(DRAWS)]
    assert statistics.fmean(draws) == pytest.approx(0.2, rel=0.01)
    assert statistics.stdev(draws) == pytest.approx(0.05, rel=0.03)
    assert abs(lag1(draws)) < 0.03


def test_correlation_links_consecutive_delays_but_keeps_their_spread() -> None:
    sampler = DelaySampler(random.Random(2))
    draws = [sampler.draw(Delay(0.5, 0.1, correlation=0.5)) for _ in range(DRAWS)]
    assert lag1(draws) == pytest.approx(0.5, abs=0.03)
    assert statistics.stdev(draws) == pytest.approx(0.1, rel=0.05)


def test_delays_are_never_negative() -> None:
    sampler = DelaySampler(random.Random(3))
    assert min(sampler.draw(Delay(0.01, 0.05)) for _ in range(1000)) == 0.0


def test_loss_rate_holds_with_and_without_correlation() -> None:
    for rho in (0.0, 0.6):
        sampler = LossSampler(random.Random(4))
        hits = [float(sampler.lost(Loss(0.25, rho))) for _ in range(DRAWS)]
        assert statistics.fmean(hits) == pytest.approx(0.25, abs=0.015)
        assert lag1(hits) == pytest.approx(rho, abs=0.03)


def test_total_loss_loses_everything_and_no_loss_nothing() -> None:
    sampler = LossSampler(random.Random(5))
    assert all(sampler.lost(Loss(1.0)) for _ in range(100))
    assert not any(sampler.lost(Loss(0.0, 0.9)) for _ in range(100))


def test_retransmissions_double_up_to_the_cap() -> None:
    waits = retransmission_delays(0.2)
    first = [next(waits) for _ in range(12)]
    assert first[:4] == [0.2, 0.4, 0.8, 1.6]
    assert first[-1] == 120.0


def test_merging_takes_the_worst_delay_and_combines_losses() -> None:
    faults = [
        NetworkFault("a", delay=Delay(0.1, 0.02)),
        NetworkFault("b", delay=Delay(0.3, 0.01), loss=Loss(0.5)),
        NetworkFault("c", direction="both", loss=Loss(0.5)),
        NetworkFault("d", direction="from", partition="refuse"),
    ]
    to = merge(faults, "to")
    assert to.delay == Delay(0.3, 0.02, 0.0)
    assert to.loss is not None and to.loss.loss == pytest.approx(0.75)
    assert to.partition is None
    frm = merge(faults, "from")
    assert frm.delay is None and frm.partition == "refuse"
    assert merge([], "to").idle


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x"}, "needs delay, loss or partition"),
        ({"name": "x", "delay": {"latency": -1}}, "delay.latency=-1.0"),
        ({"name": "x", "delay": {"latency": 0.1, "spread": 1}}, "delay.spread"),
        ({"name": "x", "loss": {"loss": 1.5}}, "loss.loss=1.5"),
        ({"name": "x", "partition": "sometimes"}, "partition='sometimes'"),
        ({"name": "x", "direction": "sideways", "loss": {"loss": 0.1}}, "direction='sideways'"),
        ({"name": "x", "colour": "red"}, "'colour'"),
        ({"name": "x", "delay": {"latency": "fast"}}, "delay.latency='fast'"),
    ],
)
def test_bad_faults_are_refused_naming_field_and_value(data: dict[str, object], message: str) -> None:
    with pytest.raises(FaultError, match=message.replace(".", r"\.").replace("[", r"\[")):
        NetworkFault.from_json(data)


def test_faults_round_trip_through_json() -> None:
    fault = NetworkFault("lat", "both", Delay(0.2, 0.05, 0.25), Loss(0.1, 0.2), None)
    assert NetworkFault.from_json(fault.to_json()) == fault
