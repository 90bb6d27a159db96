"""Arrivals: closed users with constant pacing, or open Poisson arrivals at the same mean rate."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from chaos import pacing
from load._pacing import Pacer, first_start, user_phase


def request_starts(pacer: Pacer, latency: float, horizon: float) -> list[float]:
    """Start times of one user whose requests each take `latency` seconds."""
    starts, t = [], 0.0
    while t < horizon:
        starts.append(t)
        end = t + latency
        t = end + pacer.wait(t, end)
    return starts


def test_closed_user_starts_a_request_every_period() -> None:
    assert Pacer(0.2, "closed", random.Random(1)).wait(started=10.0, now=10.05) == pytest.approx(0.15)
    starts = request_starts(Pacer(0.2, "closed", random.Random(1)), latency=0.05, horizon=1.9)
    assert starts == pytest.approx([0.2 * i for i in range(10)])


def test_closed_user_slows_down_when_answers_are_slower_than_the_period() -> None:
    assert Pacer(0.2, "closed", random.Random(1)).wait(started=10.0, now=10.5) == 0.0
    starts = request_starts(Pacer(0.2, "closed", random.Random(1)), latency=0.5, horizon=2.0)
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


def test_a_late_start_delays_that_request_only() -> None:
    """The grid stays: a start 30 ms late (a busy event loop) does not move the next ones."""
    pacer = Pacer(0.2, "closed", random.Random(1))
    assert pacer.wait(started=0.0, now=0.05) == pytest.approx(0.15)  # next at 0.2
    late_start = 0.23  # the user woke 30 ms after its grid point
    assert late_start + 0.05 + pacer.wait(late_start, late_start + 0.05) == pytest.approx(0.4)


def test_the_first_request_waits_for_the_users_phase() -> None:
    pacer = Pacer(0.2, "closed", random.Random(1), phase=0.25)
    assert pacer.first(now=10.02) == pytest.approx(0.03)  # grid points at 10.05, 10.25, ...
    assert pacer.wait(started=10.05, now=10.1) == pytest.approx(0.15)
    assert Pacer(0.2, "poisson", random.Random(1), phase=0.25).first(now=10.02) == 0.0


def test_users_woken_together_keep_their_phases() -> None:
    """An event loop runs every expired timer in its next pass, so users due close together start
    together. Pacing from the last actual start keeps such users together for good, and over a
    minute they merge into a few clumps; on the grid each goes back to its own point."""
    period, users, horizon = 0.2, 40, 60.0

    def clumps(grid: bool) -> int:
        loop = random.Random(5)  # passes of the event loop: 4 ms apart on average
        pacers = [Pacer(period, "closed", random.Random(u), user_phase(u)) for u in range(users)]
        due = [p.first(0.0) for p in pacers]
        last: set[float] = set()
        t = 0.0
        while t < horizon:
            t += loop.expovariate(1 / 0.004)
            for u, p in enumerate(pacers):
                if due[u] <= t:
                    end = t + 0.03
                    due[u] = end + (p.wait(t, end) if grid else max(0.0, t + period - end))
                    if t > horizon - period:
                        last.add(t)
        return len(last)  # distinct start times in the last period

    assert clumps(grid=False) <= 8
    assert clumps(grid=True) >= 20


@pytest.mark.parametrize("n", range(200))
def test_the_load_and_the_simulator_place_users_alike(n: int) -> None:
    assert user_phase(n) == pacing.user_phase(n)
    assert user_phase(n, 0.3) == pacing.user_phase(n, 0.3)


@pytest.mark.parametrize(
    ("phase", "period", "now"),
    [
        (0.0, 0.2, 0.0),
        (0.3, 0.2, 0.0),
        (0.3, 0.2, 0.06),
        (0.3, 0.2, 0.061),
        (0.99, 0.2, 123.4),
        (0.5, 0.0, 2.0),
    ],
)
def test_the_load_and_the_simulator_start_users_alike(phase: float, period: float, now: float) -> None:
    assert first_start(phase, period, now) == pacing.first_start(phase, period, now)
    assert Pacer(period, "closed", random.Random(1), phase).first(now) == pytest.approx(
        pacing.first_start(phase, period, now) - now
    )


def test_a_user_started_past_its_grid_point_waits_for_the_next_one() -> None:
    assert pacing.first_start(0.3, 0.2, 0.05) == pytest.approx(0.06)
    assert pacing.first_start(0.3, 0.2, 0.06) == pytest.approx(0.06)
    assert pacing.first_start(0.3, 0.2, 0.07) == pytest.approx(0.26)


def test_phases_spread_evenly_for_any_number_of_users() -> None:
    for users in (1, 2, 7, 40, 100):
        phases = sorted(user_phase(n) for n in range(users))
        gaps = [b - a for a, b in itertools.pairwise([*phases, phases[0] + 1.0])]
        assert max(gaps) / min(gaps) <= 2.62  # three-distance theorem: ratio at most phi^2
        assert max(gaps) <= 2.62 / users


@pytest.mark.parametrize(("period", "arrival"), [(-1.0, "closed"), (0.1, "burst")])
def test_bad_pacing_is_refused(period: float, arrival: str) -> None:
    with pytest.raises(ValueError, match=r"period|arrival"):
        Pacer(period, arrival, random.Random(0))
