"""Feature resolution: every path from the store to the cache to the defaults, and what each counts."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from chaos.system import CircuitBreaker as BreakerConfig
from service.breaker import BreakerState, CircuitBreaker
from service.cache import TTLCache
from service.features import FeatureLookup, FeatureResolver
from service.metrics import ServiceMetrics
from tests.service.conftest import FakeClock, FakeStore

BREAKER = BreakerConfig(failure_threshold=3, slow_call=0.08, reset_timeout=30.0, half_open_successes=1)
TIMEOUT = 0.05


def _resolver(store: FakeStore, clock: FakeClock, defaults: dict[str, float]) -> FeatureResolver:
    metrics = ServiceMetrics(process=False)
    breaker = CircuitBreaker(BREAKER, clock=clock, on_transition=metrics.breaker_transition)
    cache: TTLCache[str, dict[str, float]] = TTLCache(100, 300.0, clock=clock)
    return FeatureResolver(store, breaker, cache, defaults, TIMEOUT, metrics, clock=clock)


def _resolve(
    resolver: FeatureResolver, entity_id: str, overrides: dict[str, float] | None = None
) -> FeatureLookup:
    return asyncio.run(resolver.resolve(entity_id, overrides or {}))


def _count(resolver: FeatureResolver, name: str, **labels: str) -> float:
    value = resolver.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


@pytest.fixture
def defaults(dataset_rows: dict[str, dict[str, float]]) -> dict[str, float]:
    return dict.fromkeys(dataset_rows["0"], -1.0)


def test_store_answer_is_used_and_cached(
    store: FakeStore, clock: FakeClock, defaults: dict[str, float]
) -> None:
    resolver = _resolver(store, clock, defaults)
    lookup = _resolve(resolver, "42")
    assert lookup == FeatureLookup(store.rows["42"], "store", None)
    assert resolver.cache.get("42") == store.rows["42"]
    assert _count(resolver, "mlservice_feature_store_duration_seconds_count", result="ok") == 1


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ConnectionRefusedError(111, "refused"), "store_error"),
        (redis.ConnectionError("reset"), "store_error"),
        (redis.ResponseError("WRONGTYPE"), "store_error"),
        (redis.TimeoutError("socket timeout"), "store_timeout"),
    ],
)
def test_failed_call_falls_back_to_cache_then_defaults(
    store: FakeStore, clock: FakeClock, defaults: dict[str, float], error: Exception, reason: str
) -> None:
    resolver = _resolver(store, clock, defaults)
    _resolve(resolver, "42")
    store.error = error
    assert _resolve(resolver, "42") == FeatureLookup(store.rows["42"], "cache", reason)
    assert _resolve(resolver, "7") == FeatureLookup(defaults, "defaults", reason)
    assert _count(resolver, "mlservice_feature_cache_lookups_total", result="hit") == 1
    assert _count(resolver, "mlservice_feature_cache_lookups_total", result="miss") == 1
    label = "timeout" if reason == "store_timeout" else "error"
    assert _count(resolver, "mlservice_feature_store_duration_seconds_count", result=label) == 2


def test_hanging_store_is_cut_at_the_call_timeout(
    store: FakeStore, clock: FakeClock, defaults: dict[str, float]
) -> None:
    resolver = _resolver(store, clock, defaults)
    store.hang = True
    assert _resolve(resolver, "42") == FeatureLookup(defaults, "defaults", "store_timeout")
    assert resolver.breaker.consecutive_failures == 1


def test_breaker_opens_and_then_spares_the_store(
    store: FakeStore, clock: FakeClock, defaults: dict[str, float]
) -> None:
    resolver = _resolver(store, clock, defaults)
    _resolve(resolver, "42")
    assert _count(resolver, "mlservice_circuit_breaker_opened_timestamp_seconds") == 0
    store.error = ConnectionResetError("reset")
    before = time.time()
    for _ in range(3):
        _resolve(resolver, "1")
    assert resolver.breaker.state is BreakerState.OPEN
    opened = _count(resolver, "mlservice_circuit_breaker_opened_timestamp_seconds")
    assert before <= opened <= time.time()  # wall clock: Prometheus readers compare it with theirs
    calls = store.calls
    assert _resolve(resolver, "42") == FeatureLookup(store.rows["42"], "cache", "breaker_open")
    assert store.calls == calls  # the open breaker did not call the store
    assert (
        _count(resolver, "mlservice_circuit_breaker_transitions_total", from_state="closed", to_state="open")
        == 1
    )
    assert _count(resolver, "mlservice_circuit_breaker_state", state="open") == 1
    # the store recovers; after the reset timeout one trial closes the breaker again
    store.error = None
    clock.advance(30)
    assert _resolve(resolver, "42").source == "store"
    assert resolver.breaker.state is BreakerState.CLOSED


def test_slow_answers_are_used_but_open_the_breaker(
    store: FakeStore, clock: FakeClock, defaults: dict[str, float]
) -> None:
    resolver = _resolver(store, clock, defaults)
    store.latency = 0.09  # on the fake clock: slower than slowCallDuration, faster than nothing
    for _ in range(3):
        assert _resolve(resolver, "42").source == "store"
    assert resolver.breaker.state is BreakerState.OPEN
    assert _count(resolver, "mlservice_feature_store_duration_seconds_count", result="slow") == 3


def test_unknown_entity_gets_defaults_without_hurting_the_breaker(
    store: FakeStore, clock: FakeClock, defaults: dict[str, float]
) -> None:
    resolver = _resolver(store, clock, defaults)
    for _ in range(5):
        assert _resolve(resolver, "no-such-entity") == FeatureLookup(defaults, "defaults", "unknown_entity")
    assert resolver.breaker.state is BreakerState.CLOSED


def test_incomplete_stored_vector_is_a_store_error(
    store: FakeStore, clock: FakeClock, defaults: dict[str, float]
) -> None:
    resolver = _resolver(store, clock, defaults)
    store.rows["42"] = {"mean_radius": 1.0}
    assert _resolve(resolver, "42") == FeatureLookup(defaults, "defaults", "store_error")


def test_request_features_override_and_a_complete_request_skips_the_store(
    store: FakeStore, clock: FakeClock, defaults: dict[str, float]
) -> None:
    resolver = _resolver(store, clock, defaults)
    partial = _resolve(resolver, "42", {"mean_radius": 99.0})
    assert partial.source == "store"
    assert partial.values == store.rows["42"] | {"mean_radius": 99.0}
    store.error = ConnectionRefusedError(111, "refused")
    everything = dict.fromkeys(defaults, 2.0)
    assert _resolve(resolver, "42", everything) == FeatureLookup(everything, "request", None)
    assert store.calls == 1


def test_cancelled_trial_does_not_leave_the_breaker_stuck(
    store: FakeStore, clock: FakeClock, defaults: dict[str, float]
) -> None:
    resolver = _resolver(store, clock, defaults)
    store.error = ConnectionRefusedError(111, "refused")
    for _ in range(3):
        _resolve(resolver, "42")
    clock.advance(30)
    store.error, store.hang = None, True

    async def cancelled_trial() -> None:
        task = asyncio.create_task(resolver.resolve("42", {}))
        async with asyncio.timeout(5):  # the trial reaches the store
            while store.calls < 4:
                await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled_trial())
    assert resolver.breaker.state is BreakerState.OPEN  # the cancelled trial counted as a failure
    clock.advance(30)
    store.hang = False
    assert _resolve(resolver, "42").source == "store"
