"""Feature resolution: the store behind a circuit breaker and a per-call timeout, then cache, then defaults.

For one entity:
1. the request supplies every feature -> source "request", the store is not called;
2. the breaker allows a call and the store answers in time -> source "store" (and the cache is
   refreshed); a store that answers "no such entity" -> defaults, reason "unknown_entity";
3. the breaker is open, or the call fails or times out -> the cache (source "cache"), else the
   defaults (source "defaults"), with reason breaker_open / store_error / store_timeout.
Features given in the request override the others in every case.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import redis

from service.breaker import CircuitBreaker
from service.cache import TTLCache
from service.errors import FeatureDataError
from service.feature_store import FeatureStore
from service.metrics import ServiceMetrics
from service.schema import (
    REASON_BREAKER_OPEN,
    REASON_STORE_ERROR,
    REASON_STORE_TIMEOUT,
    REASON_UNKNOWN_ENTITY,
    SOURCE_CACHE,
    SOURCE_DEFAULTS,
    SOURCE_REQUEST,
    SOURCE_STORE,
)

log = logging.getLogger(__name__)

# What a failing store raises: connection refused/reset (OSError and redis' ConnectionError),
# protocol or server errors (RedisError), and values that are not numbers (FeatureDataError).
STORE_ERRORS = (OSError, redis.RedisError, FeatureDataError)


@dataclass(frozen=True)
class FeatureLookup:
    values: dict[str, float]
    source: str
    reason: str | None = None


class FeatureResolver:
    """Finds the feature vector for an entity, degrading instead of failing."""

    def __init__(
        self,
        store: FeatureStore,
        breaker: CircuitBreaker,
        cache: TTLCache[str, dict[str, float]],
        defaults: Mapping[str, float],
        timeout: float,
        metrics: ServiceMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.breaker = breaker
        self.cache = cache
        self.defaults = dict(defaults)
        self.timeout = timeout
        self.metrics = metrics
        self._clock = clock

    async def resolve(self, entity_id: str, overrides: Mapping[str, float]) -> FeatureLookup:
        if overrides.keys() >= self.defaults.keys():
            return FeatureLookup({name: overrides[name] for name in self.defaults}, SOURCE_REQUEST)
        lookup = await self._lookup(entity_id)
        if overrides:
            return FeatureLookup(lookup.values | dict(overrides), lookup.source, lookup.reason)
        return lookup

    async def _lookup(self, entity_id: str) -> FeatureLookup:
        if not self.breaker.allow():
            return self._fallback(entity_id, REASON_BREAKER_OPEN)
        start = self._clock()
        try:
            async with asyncio.timeout(self.timeout):
                stored = await self.store.fetch(entity_id)
            values = None if stored is None else self._complete(entity_id, stored)
        except (TimeoutError, redis.TimeoutError):
            self._failed(start, "timeout")
            return self._fallback(entity_id, REASON_STORE_TIMEOUT)
        except STORE_ERRORS as exc:
            self._failed(start, "error")
            log.debug("feature store call for %s failed: %r", entity_id, exc)
            return self._fallback(entity_id, REASON_STORE_ERROR)
        except BaseException:
            self.breaker.record_failure()  # cancelled (request deadline): never leave a trial open
            raise
        elapsed = self._clock() - start
        self.breaker.record_success(elapsed)
        if values is None:
            self.metrics.observe_store_call("not_found", elapsed)
            return FeatureLookup(dict(self.defaults), SOURCE_DEFAULTS, REASON_UNKNOWN_ENTITY)
        slow = elapsed >= self.breaker.config.slow_call
        self.metrics.observe_store_call("slow" if slow else "ok", elapsed)
        self.cache.put(entity_id, values)
        return FeatureLookup(values, SOURCE_STORE)

    def _complete(self, entity_id: str, stored: Mapping[str, float]) -> dict[str, float]:
        """The model's features from a stored hash (extra fields dropped); raises if some lack."""
        try:
            return {name: stored[name] for name in self.defaults}
        except KeyError:
            missing = sorted(self.defaults.keys() - stored.keys())
            raise FeatureDataError(f"entity {entity_id!r}: the store lacks features {missing}") from None

    def _failed(self, start: float, result: str) -> None:
        self.breaker.record_failure()
        self.metrics.observe_store_call(result, self._clock() - start)

    def _fallback(self, entity_id: str, reason: str) -> FeatureLookup:
        cached = self.cache.get(entity_id)
        self.metrics.cache_lookups.labels("miss" if cached is None else "hit").inc()
        if cached is not None:
            return FeatureLookup(cached, SOURCE_CACHE, reason)
        return FeatureLookup(dict(self.defaults), SOURCE_DEFAULTS, reason)
