"""The Redis client against faults at the socket: refused and black-holed connections (no Redis needed)."""

from __future__ import annotations

import asyncio
import socket

from chaos.system import CircuitBreaker as BreakerConfig
from service.breaker import BreakerState, CircuitBreaker
from service.cache import TTLCache
from service.feature_store import RedisFeatureStore
from service.features import FeatureLookup, FeatureResolver
from service.metrics import ServiceMetrics

TIMEOUT = 0.1
DEFAULTS = {"mean_radius": 14.0}
BREAKER = BreakerConfig(failure_threshold=2, slow_call=0.08, reset_timeout=30.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _resolver(url: str) -> FeatureResolver:
    metrics = ServiceMetrics(process=False)
    return FeatureResolver(
        RedisFeatureStore(url, TIMEOUT),
        CircuitBreaker(BREAKER, on_transition=metrics.breaker_transition),
        TTLCache(10, 60.0),
        DEFAULTS,
        TIMEOUT,
        metrics,
    )


async def _ticks_during(call: asyncio.Future[FeatureLookup]) -> tuple[FeatureLookup, int]:
    """The call's result and how often another task ran meanwhile (the loop must stay free)."""
    ticks = 0
    async with asyncio.timeout(10 * TIMEOUT):  # the call timeout must end it well before this
        while not call.done():
            ticks += 1
            await asyncio.sleep(0.005)
    return await call, ticks


def test_refused_connection_is_a_store_error_and_opens_the_breaker() -> None:
    resolver = _resolver(f"redis://127.0.0.1:{_free_port()}/0")

    async def scenario() -> list[FeatureLookup]:
        try:
            return [await resolver.resolve("1", {}) for _ in range(3)]
        finally:
            await resolver.store.close()

    answers = asyncio.run(scenario())
    assert answers[:2] == [FeatureLookup(DEFAULTS, "defaults", "store_error")] * 2
    assert answers[2] == FeatureLookup(DEFAULTS, "defaults", "breaker_open")
    assert resolver.breaker.state is BreakerState.OPEN


def test_black_holed_connection_times_out_without_blocking_the_loop() -> None:
    async def scenario() -> tuple[FeatureLookup, int, int]:
        accepted: list[asyncio.StreamWriter] = []

        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)  # accept, read nothing, answer nothing

        server = await asyncio.start_server(swallow, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        resolver = _resolver(f"redis://127.0.0.1:{port}/0")
        try:
            lookup, ticks = await _ticks_during(asyncio.ensure_future(resolver.resolve("1", {})))
        finally:
            await resolver.store.close()
            for writer in accepted:
                writer.close()
            server.close()
            await server.wait_closed()
        count = resolver.metrics.registry.get_sample_value(
            "mlservice_feature_store_duration_seconds_count", {"result": "timeout"}
        )
        return lookup, ticks, int(count or 0)

    lookup, ticks, timeouts = asyncio.run(scenario())
    assert lookup == FeatureLookup(DEFAULTS, "defaults", "store_timeout")
    assert timeouts == 1
    assert ticks > 1
