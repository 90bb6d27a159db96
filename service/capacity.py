"""A pod's fixed capacity: a concurrency limit, a bounded queue, and a service time that is waited.

`Capacity.slot()` admits a request if fewer than `concurrency + max_queue` are admitted, else raises
`Overloaded` at once (HTTP 503); an admitted request waits (FIFO) for one of `concurrency` slots.
`ServiceTime` draws the model's service time from the system profile's distribution; the service
awaits it instead of burning CPU, so a pod serves at most `concurrency / mean` requests per second on
any machine, and losing 30 % of pods loses 30 % of capacity (DESIGN.md, "Local testbed").
"""

from __future__ import annotations

import asyncio
import math

import numpy as np

from chaos.distributions import weibull_scale, weibull_shape
from chaos.system import Distribution
from service.errors import Overloaded


class Capacity:
    """Admission control for one pod."""

    def __init__(self, concurrency: int, max_queue: int) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency={concurrency} must be >= 1")
        if max_queue < 0:
            raise ValueError(f"max_queue={max_queue} must be >= 0")
        self.concurrency = concurrency
        self.max_queue = max_queue
        self._slots = asyncio.Semaphore(concurrency)
        self._admitted = 0
        self._running = 0

    @property
    def running(self) -> int:
        """Requests holding a slot."""
        return self._running

    @property
    def queued(self) -> int:
        """Admitted requests waiting for a slot."""
        return self._admitted - self._running

    def slot(self) -> _Slot:
        """Hold one slot for the body of `async with`; raises Overloaded when the queue is full."""
        return _Slot(self)

    async def _enter(self) -> None:
        if self._admitted >= self.concurrency + self.max_queue:
            raise Overloaded(f"queue full: {self.concurrency} running and {self.max_queue} waiting")
        self._admitted += 1
        try:
            await self._slots.acquire()
        except BaseException:
            self._admitted -= 1  # cancelled (request deadline) while waiting: leave the queue
            raise
        self._running += 1

    def _exit(self) -> None:
        self._running -= 1
        self._admitted -= 1
        self._slots.release()


class _Slot:
    """`Capacity.slot()`: a plain context manager, cheaper per request than a generator-based one."""

    __slots__ = ("_capacity",)

    def __init__(self, capacity: Capacity) -> None:
        self._capacity = capacity

    async def __aenter__(self) -> None:
        await self._capacity._enter()

    async def __aexit__(self, *exc_info: object) -> None:
        self._capacity._exit()


class ServiceTime:
    """Draws of a positive duration with the profile's family, mean and coefficient of variation.

    Random draws are made `BATCH` at a time: one numpy call per draw cost a pod more than the
    rest of its model step. The sequence for a seed is fixed, as before, but not the same one.
    """

    BATCH = 256

    def __init__(self, distribution: Distribution, rng: np.random.Generator) -> None:
        self.distribution = distribution
        self._rng = rng
        mean, cv = distribution.mean, distribution.cv
        kind = distribution.kind
        self._constant = not (mean > 0 and (kind == "exponential" or (cv > 0 and kind != "constant")))
        if kind == "lognormal" and not self._constant:
            self._sigma = math.sqrt(math.log1p(cv * cv))
            self._mu = math.log(mean) - 0.5 * self._sigma**2
        elif kind == "gamma" and not self._constant:
            self._shape = 1.0 / (cv * cv)
            self._scale = mean * cv * cv
        elif kind == "weibull" and not self._constant:
            self._shape = weibull_shape(cv)
            self._scale = weibull_scale(mean, self._shape)
        self._drawn: list[float] = []

    def sample(self) -> float:
        if self._constant:
            return max(self.distribution.mean, 0.0)
        if not self._drawn:
            self._drawn = self._draw(self.BATCH).tolist()
            self._drawn.reverse()  # pop() from the end hands them out in drawing order
        return self._drawn.pop()

    def _draw(self, n: int) -> np.ndarray:
        d = self.distribution
        if d.kind == "exponential":
            return self._rng.exponential(d.mean, n)
        if d.kind == "lognormal":
            return self._rng.lognormal(self._mu, self._sigma, n)
        if d.kind == "weibull":
            return self._scale * self._rng.weibull(self._shape, n)
        return self._rng.gamma(self._shape, self._scale, n)
