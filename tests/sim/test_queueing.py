"""Correctness anchors: Erlang C closed forms, the kernel against M/M/c, and Little's law."""

from __future__ import annotations

import numpy as np
import pytest

from chaos.system import Distribution
from sim.queueing import MMc
from sim.replication import simulate
from sim.trace import Trace
from tests.sim.builders import UNLIMITED, profile, run_for


def test_erlang_c_reduces_to_mm1() -> None:
    q = MMc(lam=0.9, mu=1.0, c=1)
    assert q.erlang_c == pytest.approx(0.9)
    assert q.mean_wait == pytest.approx(0.9 / (1.0 - 0.9))
    assert q.mean_in_system == pytest.approx(0.9 / (1.0 - 0.9))


def test_erlang_c_textbook_values() -> None:
    assert MMc(lam=1.0, mu=1.0, c=2).mean_wait == pytest.approx(1 / 3)
    three = MMc(lam=2.0, mu=1.0, c=3)
    assert three.erlang_b == pytest.approx((8 / 6) / (1 + 2 + 2 + 8 / 6))
    assert three.erlang_c == pytest.approx(4 / 9)
    assert three.mean_wait == pytest.approx(4 / 9)


def test_erlang_c_refuses_an_unstable_queue() -> None:
    with pytest.raises(ValueError, match=r"utilisation=1\.0 must be < 1"):
        MMc(lam=2.0, mu=1.0, c=2)


def mmc_trace(rho: float, c: int, requests: int, seed: int = 0) -> tuple[Trace, float]:
    """One pod with `c` slots and no queue limit, exponential service (mean 1 s), no store cost,
    Poisson arrivals from so many users (10,000) that one still waiting for its previous answer is
    rare: about 0.1 % of them at these loads, so the stream is Poisson for practical purposes."""
    lam = rho * c
    prof = profile(
        replicas=1,
        concurrency=c,
        max_queue=UNLIMITED,
        service=Distribution("exponential", 1.0, 1.0),
        request_timeout=1e9,
        client_timeout=1e9,
        users=10_000,
        rps=lam,
        arrival="poisson",
    )
    horizon = requests / lam
    return simulate(prof, run_for(horizon), np.random.default_rng(seed), [0.0]), horizon


@pytest.mark.slow
@pytest.mark.parametrize(("rho", "requests"), [(0.5, 500_000), (0.8, 1_000_000), (0.9, 2_500_000)])
def test_kernel_matches_erlang_c_waiting_time_and_utilisation(rho: float, requests: int) -> None:
    # Across seeds the relative error of the mean wait has a standard deviation of about 0.7 %,
    # 0.8 % and 1.1 % at these sizes; the first 2 % of the run (the empty start) is left out.
    c = 2
    trace, horizon = mmc_trace(rho, c, requests)
    warm = 0.02 * horizon
    kept = trace.send >= warm
    theory = MMc(lam=rho * c, mu=1.0, c=c)
    assert trace.wait[kept].mean() == pytest.approx(theory.mean_wait, rel=0.02)
    busy = np.minimum(trace.end, horizon) - np.maximum(trace.start, warm)
    utilisation = busy[busy > 0].sum() / (c * (horizon - warm))
    assert utilisation == pytest.approx(theory.utilisation, rel=0.02)


def test_littles_law_holds_on_a_run() -> None:
    # L (time-average number of requests in the system) = lambda (arrival rate) x W (mean time in it)
    trace, horizon = mmc_trace(0.8, 3, 200_000, seed=3)
    window = (0.1 * horizon, 0.9 * horizon)
    grid = np.linspace(*window, 400_001)
    send, end = np.sort(trace.send), np.sort(trace.end)
    in_system = np.searchsorted(send, grid, side="right") - np.searchsorted(end, grid, side="right")
    sent = (trace.send >= window[0]) & (trace.send < window[1])
    lam = sent.sum() / (window[1] - window[0])
    w = trace.latency[sent].mean()
    assert in_system.mean() == pytest.approx(lam * w, rel=0.02)
    assert lam * w == pytest.approx(MMc(lam=2.4, mu=1.0, c=3).mean_in_system, rel=0.05)
