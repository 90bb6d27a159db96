"""The feature store: Redis, one hash per entity (`features:<entity_id>`, field = feature name).

`RedisFeatureStore.fetch` is the raw call (no breaker, no cache: see service.features). It is built
for a store reached through a fault proxy: the call (connecting included) ends at the per-call
timeout, with no retries (the breaker decides what to try), so a refused, black-holed or slow
connection costs at most the timeout. It reads through `service.redis_client`, a lean client for
this one command. `load_features` fills the store from the data set (with redis-py).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import redis

from service.errors import FeatureDataError, ServiceConfigError
from service.redis_client import RedisClient

log = logging.getLogger(__name__)

KEY_PREFIX = "features:"
LOAD_BATCH = 200


def entity_key(entity_id: str) -> str:
    return f"{KEY_PREFIX}{entity_id}"


class FeatureStore(Protocol):
    """Where the service reads an entity's features from."""

    async def fetch(self, entity_id: str) -> dict[str, float] | None:
        """The entity's stored features, None when the store has no such entity; raises on failure."""
        ...

    async def close(self) -> None: ...


def _check_url(url: str) -> None:
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ServiceConfigError(f"--redis-url={url!r} must look like redis://HOST:PORT/DB")


class RedisFeatureStore:
    """Feature vectors from Redis hashes."""

    def __init__(self, url: str, timeout: float, max_connections: int = 32) -> None:
        _check_url(url)
        self.url = url
        self.timeout = timeout
        self._client = RedisClient(url, max_connections)

    async def fetch(self, entity_id: str) -> dict[str, float] | None:
        async with asyncio.timeout(self.timeout):
            raw = await self._client.hgetall(entity_key(entity_id))
        if not raw:
            return None
        return parse_hash(entity_id, raw)

    async def close(self) -> None:
        await self._client.close()


def parse_hash(entity_id: str, raw: Mapping[str, str]) -> dict[str, float]:
    """The hash's fields as finite numbers; FeatureDataError names the first field that is not."""
    try:
        values = {name: float(text) for name, text in raw.items()}
    except ValueError:
        values = {}
    if values and math.isfinite(sum(values.values())):
        return values  # every value is finite (a sum with inf or nan is not)
    for name, text in raw.items():
        try:
            value = float(text)
        except ValueError:
            raise FeatureDataError(
                f"{entity_key(entity_id)}: field {name}={text!r} is not a number"
            ) from None
        if not math.isfinite(value):
            raise FeatureDataError(f"{entity_key(entity_id)}: field {name}={text!r} is not finite")
    return {name: float(text) for name, text in raw.items()}  # finite values whose sum overflows


def load_features(
    url: str,
    entity_ids: Sequence[str],
    features: np.ndarray,
    names: Sequence[str],
    timeout: float = 5.0,
) -> int:
    """Write one hash per entity (replacing what was there); returns the number of entities written."""
    _check_url(url)
    if features.shape != (len(entity_ids), len(names)):
        raise ValueError(f"features shape {features.shape} != ({len(entity_ids)}, {len(names)})")
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        for start in range(0, len(entity_ids), LOAD_BATCH):
            with client.pipeline(transaction=True) as pipe:
                for entity_id, row in zip(
                    entity_ids[start : start + LOAD_BATCH], features[start : start + LOAD_BATCH], strict=True
                ):
                    key = entity_key(entity_id)
                    pipe.delete(key)
                    pipe.hset(key, mapping={n: repr(float(v)) for n, v in zip(names, row, strict=True)})
                pipe.execute()
    finally:
        client.close()
    log.info("loaded %d entities into %s", len(entity_ids), url)
    return len(entity_ids)
