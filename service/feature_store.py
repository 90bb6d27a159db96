"""The feature store: Redis, one hash per entity (`features:<entity_id>`, field = feature name).

`RedisFeatureStore.fetch` is the raw call (no breaker, no cache: see service.features). It is built
for a store reached through a fault proxy: connect and socket timeouts equal to the per-call timeout,
no library-level retries (the breaker decides what to try), so a refused, black-holed or slow
connection costs at most the timeout. `load_features` fills the store from the data set.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from service.errors import FeatureDataError, ServiceConfigError

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
    """Feature vectors from Redis hashes, through redis.asyncio."""

    def __init__(self, url: str, timeout: float, max_connections: int = 32) -> None:
        _check_url(url)
        self.url = url
        self.timeout = timeout
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            max_connections=max_connections,
            decode_responses=True,
        )

    async def fetch(self, entity_id: str) -> dict[str, float] | None:
        raw = await self._client.hgetall(entity_key(entity_id))
        if not raw:
            return None
        return parse_hash(entity_id, {_text(k): _text(v) for k, v in raw.items()})

    async def close(self) -> None:
        await self._client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse_hash(entity_id: str, raw: Mapping[str, str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, text in raw.items():
        try:
            value = float(text)
        except ValueError:
            raise FeatureDataError(
                f"{entity_key(entity_id)}: field {name}={text!r} is not a number"
            ) from None
        if not math.isfinite(value):
            raise FeatureDataError(f"{entity_key(entity_id)}: field {name}={text!r} is not finite")
        values[name] = value
    return values


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
