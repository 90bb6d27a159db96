"""Arrivals: closed users with constant pacing, or open Poisson arrivals at the same mean rate."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from load._pacing import Pacer


def request_starts(pacer: Pacer, latency: float, horizon: float) -> list[float]:
    """Start times of one user whose requests each take `latency` seconds."""
    starts, t = [], 0.0
    while t < horizon:
        starts.append(t)
        end = t + latency
        t = end + pacer.wait(t, end)
    return starts


def test_closed_user_starts_a_request_every_period() -> None:
    pacer = Pacer(0.2, "closed", random.Random(1))
    assert pacer.wait(started=10.0, now=10.05) == pytest.approx(0.15)
    starts = request_starts(pacer, latency=0.05, horizon=1.9)
    assert starts == pytest.approx([0.2 * i for i in range(10)])


def test_closed_user_slows_down_when_answers_are_slower_than_the_period() -> None:
    pacer = Pacer(0.2, "closed", random.Random(1))
    assert pacer.wait(started=10.0, now=10.5) == 0.0
    starts = request_starts(pacer, latency=0.5, horizon=2.0)
    assert starts == pytest.approx([0.0, 0.5, 1.0, 1.5])  # the closed loop: load drops


def test_poisson_user_starts_at_the_mean_rate_with_exponential_gaps() -> None:
    pacer = Pacer(0.2, "poisson", random.Random(7))
    starts = request_starts(pacer, latency=0.0, horizon=2000.0)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert statistics.fmean(gaps) == pytest.approx(0.2, rel=0.03)
    assert statistics.stdev(gaps) == pytest.approx(0.2, rel=0.05)  # exponential: sd equals mean


def test_poisson_user_catches_up_after_slow_answers() -> None:
    """Open arrivals are scheduled independently of answers: overdue requests start back to back."""
    pacer = Pacer(0.2, "poisson", random.Random(3))
    slow = request_starts(pacer, latency=1.0, horizon=20.0)
    assert pacer.wait(slow[-1], slow[-1] + 1.0) == 0.0  # still behind its schedule
    fast_after_slow = request_starts(Pacer(0.2, "poisson", random.Random(3)), latency=0.0, horizon=20.0)
    assert len(fast_after_slow) > 80  # about 100 arrivals in 20 s when answers are instant
    assert len(slow) == 20  # one per second: every request was overdue, so none waited


def test_users_together_make_a_poisson_stream_or_a_steady_one() -> None:
    """Counts per window: variance/mean is about 1 for Poisson arrivals and near 0 for pacing."""
    period, users, horizon, window = 0.5, 10, 1000.0, 1.0

    def dispersion(arrival: str) -> tuple[float, float]:
        counts = [0] * int(horizon / window)
        for u in range(users):
            rng = random.Random(100 + u)
            offset = rng.uniform(0, period)  # users are spawned spread over one period
            for s in request_starts(Pacer(period, arrival, rng), latency=0.01, horizon=horizon - offset):
                counts[int((s + offset) / window)] += 1
        mean = statistics.fmean(counts)
        return mean, statistics.pvariance(counts) / mean

    poisson_mean, poisson_dispersion = dispersion("poisson")
    closed_mean, closed_dispersion = dispersion("closed")
    assert poisson_mean == pytest.approx(users / period, rel=0.03)
    assert closed_mean == pytest.approx(users / period, rel=0.01)
    assert poisson_dispersion == pytest.approx(1.0, abs=0.2)
    assert closed_dispersion < 0.1


@pytest.mark.parametrize(("period", "arrival"), [(-1.0, "closed"), (0.1, "burst")])
def test_bad_pacing_is_refused(period: float, arrival: str) -> None:
    with pytest.raises(ValueError, match=r"period|arrival"):
        Pacer(period, arrival, random.Random(0))
