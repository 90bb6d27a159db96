"""The feature store under network chaos: what one call costs while faults are active.

A call starting at `now` takes its base latency plus the injected delay (with several delay faults
active, the largest latency wins, as netem settings merge on one pod). A request segment lost by an
active loss fault is retransmitted as TCP does, after `SEGMENT_RTO` doubling with every further loss
of the same segment; an active partition loses the call outright: the caller hears nothing and gives
up at its per-call timeout. This is what the testbed's fault proxy does (testbed/faults.py).

Connections (`Connections`): a pod's store client keeps its connections open and reuses them, but a
call that times out closes its connection (its reply may still come: the connection is out of
step), so the next call may have to connect first. Under a loss fault the handshake is lost like
any segment and retried after `SYN_RTO`, doubling, as TCP does, which the call's timeout rarely
outlasts. So failures come in runs: one timeout makes the next call likelier to fail, and a
breaker counting consecutive failures trips far sooner than independent losses would make it. A
call connects afresh only when every connection the pod opened has been closed by a timeout or is
busy (the pool reuses any idle connection left), and a fresh call that gets through adds its
connection to the pool. The pool is followed from the run's start, so it holds as many connections
as calls overlapped before the fault, as the real client's does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from sim.netem import DelayDraws, LossDraws
from sim.scenario import StoreFault
from sim.variates import BLOCK

LOST = -1.0  # what `call_time` returns for a call that never gets an answer
SEGMENT_RTO = 0.2  # Linux TCP_RTO_MIN: the first retransmission of a lost segment
SYN_RTO = 1.0  # Linux TCP_TIMEOUT_INIT: the first retransmission of a lost SYN
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

    def call_time(self, now: float, base: float, connect: bool = False) -> float:
        """The duration of a call starting at `now` with base latency `base`, or LOST; `connect`:
        the call must open its connection first (the handshake is lost as segments are)."""
        delay = retransmit = 0.0
        for start, end, action, draws in self._active:
            if not start <= now < end:
                continue
            if action == "partition":
                return LOST
            assert draws is not None
            if action == "loss":
                if connect:
                    retransmit += _retransmissions(draws, SYN_RTO)
                retransmit += _retransmissions(draws, SEGMENT_RTO)
            else:
                delay = max(delay, float(draws()))
        return LOST if retransmit >= GIVE_UP else base + delay + retransmit


def _retransmissions(lost: _Draws, rto: float) -> float:
    """Seconds one segment waits to get through: each loss costs an RTO, doubling."""
    waited = 0.0
    while lost() and waited < GIVE_UP:
        waited += rto
        rto *= 2
    return waited


class Connections:
    """Each pod's open store connections and until when each is busy (module doc).

    A call takes any open connection that is idle at its start, or must connect; when it ends, a
    timeout closes the connection it used (or the one it was opening), a call that got through
    keeps it (a fresh one joins the pool). Calls reach a pod's store client in the order they
    start, as its slots serve them first come, first served."""

    def __init__(self, pods: int) -> None:
        self.busy: list[list[float]] = [[] for _ in range(pods)]

    def take(self, pod: int, now: float) -> int | None:
        """The index of a connection of `pod` idle at `now`; None: the call must connect."""
        for index, until in enumerate(self.busy[pod]):
            if until <= now:
                return index
        return None

    def release(self, pod: int, index: int | None, until: float, timed_out: bool) -> None:
        pool = self.busy[pod]
        if timed_out:
            if index is not None:
                del pool[index]
        elif index is None:
            pool.append(until)
        else:
            pool[index] = until

    def reset(self, pod: int) -> None:
        """A new container: no connection open yet."""
        self.busy[pod] = []
