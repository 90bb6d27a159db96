"""The feature store under network chaos: what one call costs while faults are active.

A call starting at `now` takes its base latency plus the injected delay of every active delay
fault; an active partition, or a drop by an active loss fault, makes it a lost call: the caller
hears nothing and gives up at its per-call timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from sim.netem import DelayDraws, LossDraws
from sim.scenario import StoreFault
from sim.variates import BLOCK

LOST = -1.0  # what `call_time` returns for a call that never gets an answer


class _Draws:
    """One fault's block draws, consumed one call at a time."""

    def __init__(self, draw: Callable[[int], list[float]] | Callable[[int], list[bool]]) -> None:
        self._draw = draw
        self._values: list[float] | list[bool] = []
        self._next = 0

    def __call__(self) -> float | bool:
        if self._next >= len(self._values):
            self._values = self._draw(BLOCK)
            self._next = 0
        value = self._values[self._next]
        self._next += 1
        return value


class StoreFaults:
    """The scenario's store faults, resolved over a run of length `horizon` with their own draws."""

    def __init__(self, faults: Sequence[StoreFault], horizon: float, rng: np.random.Generator) -> None:
        self._active: list[tuple[float, float, str, _Draws | None]] = []
        for fault in faults:
            draws: _Draws | None = None
            if fault.action == "delay":
                draws = _Draws(DelayDraws(fault.latency, fault.jitter, fault.correlation, rng))
            elif fault.action == "loss":
                draws = _Draws(LossDraws(fault.loss, fault.correlation, rng))
            self._active.append((fault.start, fault.end(horizon), fault.action, draws))
        self.start = min((a[0] for a in self._active), default=float("inf"))
        self.end = max((a[1] for a in self._active), default=float("-inf"))

    def __bool__(self) -> bool:
        return bool(self._active)

    def call_time(self, now: float, base: float) -> float:
        """The duration of a call starting at `now` with base latency `base`, or LOST."""
        total, lost = base, False
        for start, end, action, draws in self._active:
            if not start <= now < end:
                continue
            if action == "partition":
                lost = True
            elif action == "loss":
                assert draws is not None
                lost = bool(draws()) or lost
            else:
                assert draws is not None
                total += float(draws())
        return LOST if lost else total
