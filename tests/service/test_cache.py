"""The feature cache: least recently used entries leave first, entries expire after the TTL."""

from __future__ import annotations

import pytest

from service.cache import TTLCache
from tests.service.conftest import FakeClock


def test_entries_expire_after_ttl() -> None:
    clock = FakeClock()
    cache: TTLCache[str, int] = TTLCache(max_entries=10, ttl=300.0, clock=clock)
    cache.put("a", 1)
    clock.advance(299.9)
    assert cache.get("a") == 1
    clock.advance(0.1)
    assert cache.get("a") is None
    assert len(cache) == 0


def test_put_refreshes_the_age() -> None:
    clock = FakeClock()
    cache: TTLCache[str, int] = TTLCache(max_entries=10, ttl=10.0, clock=clock)
    cache.put("a", 1)
    clock.advance(8)
    cache.put("a", 2)
    clock.advance(8)
    assert cache.get("a") == 2


def test_least_recently_used_is_evicted() -> None:
    cache: TTLCache[str, int] = TTLCache(max_entries=2, ttl=10.0, clock=FakeClock())
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.put("c", 3)
    assert cache.get("b") is None
    assert cache.get("a") == 1
    assert cache.get("c") == 3
    assert len(cache) == 2


def test_invalid_sizes_are_named() -> None:
    with pytest.raises(ValueError, match="max_entries=0"):
        TTLCache(max_entries=0, ttl=1.0)
    with pytest.raises(ValueError, match="ttl=0"):
        TTLCache(max_entries=1, ttl=0)
