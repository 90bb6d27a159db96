"""The feature store under network chaos: what one call costs while faults are active.

A call starting at `now` takes its base latency plus the injected delay (with several delay faults
active, the largest latency wins, as netem settings merge on one pod). A request segment lost by an
active loss fault is retransmitted as TCP does, after `SEGMENT_RTO` doubling with every further loss
of the same segment; an active partition loses the call outright: the caller hears nothing and gives
up at its per-call timeout. This is what the testbed's fault proxy does (testbed/faults.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from sim.netem import DelayDraws, LossDraws
from sim.scenario import StoreFault
from sim.variates import BLOCK

LOST = -1.0  # what `call_time` returns for a call that never gets an answer
SEGMENT_RTO = 0.2  # Linux TCP_RTO_MIN: the first retransmission of a lost segment
GIVE_UP = 60.0  # retransmissions beyond this are as good as lost (every caller has given up)


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
        delay = retransmit = 0.0
        for start, end, action, draws in self._active:
            if not start <= now < end:
                continue
            if action == "partition":
                return LOST
            assert draws is not None
            if action == "loss":
                rto = SEGMENT_RTO
                while draws() and retransmit < GIVE_UP:
                    retransmit += rto
                    rto *= 2
            else:
                delay = max(delay, float(draws()))
        return LOST if retransmit >= GIVE_UP else base + delay + retransmit
