"""A circuit breaker for feature-store calls: closed -> open -> half-open -> closed.

- closed: calls go through. `failure_threshold` consecutive failed or slow calls (slower than
  `slow_call`) open it; a fast success resets the count.
- open: calls are refused at once (the caller falls back to cached features) until `reset_timeout`
  has passed since it opened; then it is half-open.
- half-open: one trial call at a time goes through; `half_open_successes` successful trials close
  it, a failed or slow trial opens it again for another `reset_timeout`.

Time comes from an injected clock, so tests step through the states without waiting. Every
transition is reported to `on_transition(old, new)` (the service counts them and exports the state).
The breaker runs on one event loop and needs no locks.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable

from chaos.system import CircuitBreaker as BreakerConfig

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Decides whether a call may go to the protected dependency, and learns from each result."""

    def __init__(
        self,
        config: BreakerConfig,
        clock: Clock = time.monotonic,
        on_transition: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._trial_successes = 0
        self._trial_in_flight = False
        self._opened_at = 0.0

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose reset timeout has passed reports half-open."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.config.reset_timeout:
            self._move(BreakerState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """May a call go through now? In half-open, True for one trial at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self, duration: float) -> None:
        """A call answered after `duration` seconds; a slow answer counts as a failure."""
        if duration >= self.config.slow_call:
            self.record_failure()
            return
        if self._state is BreakerState.CLOSED:
            self._failures = 0
        elif self._state is BreakerState.HALF_OPEN:
            self._trial_in_flight = False
            self._trial_successes += 1
            if self._trial_successes >= self.config.half_open_successes:
                self._move(BreakerState.CLOSED)

    def record_failure(self) -> None:
        """A call failed, timed out, was cancelled, or was slow."""
        if self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self.config.failure_threshold:
                self._move(BreakerState.OPEN)
        elif self._state is BreakerState.HALF_OPEN:
            self._move(BreakerState.OPEN)
        # open: a late result of a call made before it opened changes nothing

    def _move(self, new: BreakerState) -> None:
        old = self._state
        self._state = new
        self._failures = 0
        self._trial_successes = 0
        self._trial_in_flight = False
        if new is BreakerState.OPEN:
            self._opened_at = self._clock()
        level = logging.WARNING if new is BreakerState.OPEN else logging.INFO
        log.log(level, "feature-store circuit breaker %s -> %s", old.value, new.value)
        if self._on_transition is not None:
            self._on_transition(old, new)
