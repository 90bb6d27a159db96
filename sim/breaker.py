"""The service's circuit breaker around feature-store calls, one per pod, as a timed state machine.

closed -> open after `failure_threshold` consecutive failed or slow calls (in completion order);
open -> half-open `reset_timeout` after opening; half-open lets one trial call through at a time
(other requests are treated as if the breaker were open): `half_open_successes` successful trials
close it, a failed trial opens it again. Outcomes of calls that were not trials are ignored while
the breaker is open or half-open. Time is passed in, never read.

`CircuitBreaker` takes outcomes in time order (the per-request reference model calls it as events
happen). `DeferredBreaker` wraps it for the kernel, which learns a call's outcome when the call
starts: outcomes wait in a heap and are applied in completion order before the next decision, which
is exact because a pod's FCFS start times never decrease.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from chaos.system import CircuitBreaker as BreakerConfig

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
REJECT, CALL, TRIAL = 0, 1, 2  # what `allow` permits

Transition = Callable[[float, str], None]


class CircuitBreaker:
    def __init__(self, config: BreakerConfig, on_transition: Transition | None = None) -> None:
        self.config = config
        self.state = CLOSED
        self.failures = 0  # consecutive failed or slow calls while closed
        self.successes = 0  # successful trials while half-open
        self.open_until = 0.0
        self.trial_in_flight = False
        self._on_transition = on_transition

    def _move(self, now: float, state: str) -> None:
        self.state = state
        if self._on_transition is not None:
            self._on_transition(now, state)

    def _trip(self, now: float) -> None:
        self.open_until = now + self.config.reset_timeout
        self.trial_in_flight = False
        self._move(now, OPEN)

    def allow(self, now: float) -> int:
        """May a request starting at `now` call the store: REJECT, CALL, or TRIAL (half-open)."""
        if self.state == CLOSED:
            return CALL
        if self.state == OPEN:
            if now < self.open_until:
                return REJECT
            self.successes = 0
            self.trial_in_flight = False
            self._move(self.open_until, HALF_OPEN)
        if self.trial_in_flight:
            return REJECT
        self.trial_in_flight = True
        return TRIAL

    def record(self, now: float, failed: bool, trial: bool) -> None:
        """The outcome of a call at `now` (completion time): failed means failed or slow."""
        if self.state == CLOSED:
            if trial:
                return
            if not failed:
                self.failures = 0
                return
            self.failures += 1
            if self.failures >= self.config.failure_threshold:
                self.failures = 0
                self._trip(now)
        elif self.state == HALF_OPEN and trial:
            self.trial_in_flight = False
            if failed:
                self._trip(now)
                return
            self.successes += 1
            if self.successes >= self.config.half_open_successes:
                self._move(now, CLOSED)

    @property
    def quiet(self) -> bool:
        """Closed with no failure counted: a successful call changes nothing."""
        return self.state == CLOSED and self.failures == 0


class DeferredBreaker:
    """A breaker fed with outcomes ahead of time; `allow(now)` first applies those due by `now`."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self._pending: list[tuple[float, int, bool, bool]] = []
        self._seq = 0
        self._failures = 0  # failed outcomes among the pending ones

    def add(self, when: float, failed: bool, trial: bool) -> None:
        self._seq += 1
        self._failures += failed
        heapq.heappush(self._pending, (when, self._seq, failed, trial))

    def settle(self, now: float) -> None:
        """Apply, in completion order, every outcome that happened at or before `now`."""
        pending, breaker = self._pending, self.breaker
        while pending and pending[0][0] <= now:
            when, _, failed, trial = heapq.heappop(pending)
            self._failures -= failed
            breaker.record(when, failed, trial)

    def allow(self, now: float) -> int:
        self.settle(now)
        return self.breaker.allow(now)

    @property
    def quiet(self) -> bool:
        """A closed breaker with no failure counted or pending: the kernel need not record a
        successful call that starts now. Any call that starts later at this pod and fails, fails
        after it ends: a failed call lasts at least as long as a successful one, and a call cut by
        its request's deadline is cut no earlier than this one's deadline (FCFS: it arrived later),
        which this successful call met. So the success could only reset a count that is zero."""
        return not self._failures and self.breaker.quiet
