"""The feature-store circuit breaker, stepped through its states on a fake clock."""

from __future__ import annotations

from chaos.system import CircuitBreaker as BreakerConfig
from service.breaker import BreakerState, CircuitBreaker
from tests.service.conftest import FakeClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
CONFIG = BreakerConfig(failure_threshold=3, slow_call=0.08, reset_timeout=30.0, half_open_successes=1)
FAST = 0.003


def _breaker(config: BreakerConfig = CONFIG) -> tuple[CircuitBreaker, FakeClock, list[tuple[str, str]]]:
    clock = FakeClock()
    moves: list[tuple[str, str]] = []
    breaker = CircuitBreaker(config, clock=clock, on_transition=lambda a, b: moves.append((a.value, b.value)))
    return breaker, clock, moves


def test_opens_after_threshold_consecutive_failures_only() -> None:
    breaker, _, moves = _breaker()
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success(FAST)  # resets the count
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is OPEN
    assert not breaker.allow()
    assert moves == [("closed", "open")]


def test_slow_calls_count_as_failures() -> None:
    breaker, _, _ = _breaker()
    for _ in range(3):
        breaker.record_success(0.08)
    assert breaker.state is OPEN


def test_half_open_after_reset_timeout_lets_one_trial_through() -> None:
    breaker, clock, moves = _breaker()
    for _ in range(3):
        breaker.record_failure()
    clock.advance(29.999)
    assert not breaker.allow()
    clock.advance(0.001)
    assert breaker.allow()  # the trial
    assert breaker.state is HALF_OPEN
    assert not breaker.allow()  # a second call while the trial is out
    breaker.record_success(FAST)
    assert breaker.state is CLOSED
    assert moves == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_failed_trial_reopens_for_another_reset_timeout() -> None:
    breaker, clock, moves = _breaker()
    for _ in range(3):
        breaker.record_failure()
    clock.advance(30)
    assert breaker.allow()
    clock.advance(5)
    breaker.record_failure()
    assert breaker.state is OPEN
    clock.advance(29.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()
    assert moves == [("closed", "open"), ("open", "half_open"), ("half_open", "open"), ("open", "half_open")]


def test_slow_trial_reopens() -> None:
    breaker, clock, _ = _breaker()
    for _ in range(3):
        breaker.record_failure()
    clock.advance(30)
    assert breaker.allow()
    breaker.record_success(0.5)
    assert breaker.state is OPEN


def test_several_trial_successes_may_be_required() -> None:
    config = BreakerConfig(failure_threshold=1, slow_call=0.08, reset_timeout=10.0, half_open_successes=2)
    breaker, clock, _ = _breaker(config)
    breaker.record_failure()
    clock.advance(10)
    assert breaker.allow()
    breaker.record_success(FAST)
    assert breaker.state is HALF_OPEN
    assert breaker.allow()
    breaker.record_success(FAST)
    assert breaker.state is CLOSED


def test_late_results_while_open_change_nothing() -> None:
    breaker, clock, moves = _breaker()
    for _ in range(3):
        breaker.record_failure()
    breaker.record_success(FAST)
    breaker.record_failure()
    clock.advance(29)
    assert breaker.state is OPEN  # the late failure did not restart the reset timer
    clock.advance(1)
    assert breaker.state is HALF_OPEN
    assert moves == [("closed", "open"), ("open", "half_open")]
