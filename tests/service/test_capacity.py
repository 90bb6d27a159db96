"""A pod's fixed capacity: slots, a bounded queue, 503 beyond it; service-time draws."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import numpy as np
import pytest

from chaos.system import Distribution
from service.capacity import Capacity, ServiceTime
from service.errors import Overloaded

TEST_DEADLINE = 2.0


async def _hold(capacity: Capacity, release: asyncio.Event, entered: list[int]) -> None:
    async with capacity.slot():
        entered.append(1)
        await release.wait()


async def _until(predicate: Callable[[], bool], deadline: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not predicate():
        assert loop.time() < end, "condition not reached before the deadline"
        await asyncio.sleep(0)


def test_queue_full_is_refused_at_once() -> None:
    async def scenario() -> None:
        capacity = Capacity(concurrency=2, max_queue=1)
        release = asyncio.Event()
        entered: list[int] = []
        tasks = [asyncio.create_task(_hold(capacity, release, entered)) for _ in range(3)]
        await _until(lambda: capacity.running == 2 and capacity.queued == 1)
        with pytest.raises(Overloaded, match="2 running and 1 waiting"):
            async with asyncio.timeout(TEST_DEADLINE), capacity.slot():  # refused, never queued
                pass
        release.set()
        await asyncio.gather(*tasks)
        assert len(entered) == 3
        assert capacity.running == 0 and capacity.queued == 0

    asyncio.run(scenario())


def test_cancelled_waiter_leaves_the_queue() -> None:
    async def scenario() -> None:
        capacity = Capacity(concurrency=1, max_queue=1)
        release = asyncio.Event()
        entered: list[int] = []
        holder = asyncio.create_task(_hold(capacity, release, entered))
        waiter = asyncio.create_task(_hold(capacity, release, entered))
        await _until(lambda: capacity.queued == 1)
        waiter.cancel()
        await _until(lambda: capacity.queued == 0)
        late = asyncio.create_task(_hold(capacity, release, entered))  # room again in the queue
        await _until(lambda: capacity.queued == 1)
        release.set()
        await asyncio.gather(holder, late)
        assert len(entered) == 2

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", ["lognormal", "gamma", "exponential"])
def test_service_time_draws_have_the_profiles_mean_and_cv(kind: str) -> None:
    cv = 1.0 if kind == "exponential" else 0.3
    sampler = ServiceTime(Distribution(kind, 0.03, cv), np.random.default_rng(5))
    draws = np.array([sampler.sample() for _ in range(20_000)])
    assert draws.min() > 0
    assert draws.mean() == pytest.approx(0.03, rel=0.03)
    assert draws.std() / draws.mean() == pytest.approx(cv, rel=0.05)


def test_weibull_service_time_draws_have_the_profiles_mean_and_cv() -> None:
    sampler = ServiceTime(Distribution("weibull", 0.03, 0.3), np.random.default_rng(5))
    draws = np.array([sampler.sample() for _ in range(20_000)])
    assert draws.min() > 0
    assert draws.mean() == pytest.approx(0.03, rel=0.03)
    assert draws.std() / draws.mean() == pytest.approx(0.3, rel=0.05)


def test_constant_and_zero_service_times() -> None:
    rng = np.random.default_rng(1)
    assert ServiceTime(Distribution("constant", 0.02, 0.0), rng).sample() == 0.02
    assert ServiceTime(Distribution("lognormal", 0.0, 0.3), rng).sample() == 0.0
    assert ServiceTime(Distribution("lognormal", 0.05, 0.0), rng).sample() == 0.05
    assert math.isclose(ServiceTime(Distribution("gamma", 0.01, 0.0), rng).sample(), 0.01)
    assert ServiceTime(Distribution("exponential", 0.0, 1.0), rng).sample() == 0.0


def test_draws_for_a_seed_replay_across_batches() -> None:
    def draws(seed: int) -> list[float]:
        sampler = ServiceTime(Distribution("lognormal", 0.03, 0.3), np.random.default_rng(seed))
        return [sampler.sample() for _ in range(2 * ServiceTime.BATCH + 3)]

    first = draws(7)
    assert first == draws(7)
    assert first != draws(8)
    assert len(set(first)) == len(first)  # a batch is handed out once, not repeated


def test_invalid_limits_are_named() -> None:
    with pytest.raises(ValueError, match="concurrency=0"):
        Capacity(0, 1)
    with pytest.raises(ValueError, match="max_queue=-1"):
        Capacity(1, -1)
