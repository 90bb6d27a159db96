"""The fault proxy between a client and a tiny echo server, all on loopback in one event loop.

Every scenario runs on asyncio's loop and on uvloop's (the proxy process runs on uvloop).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvloop

from testbed.faultproxy import FaultProxy
from testbed.faults import Delay, Loss, NetworkFault
from testbed.proxy_api import proxy_control_app

WAIT = 5.0
"""Upper bound for anything that should happen; tests never wait this long when they pass."""
SILENCE = 0.3
"""How long a held connection is watched to see that nothing comes through."""


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


@asynccontextmanager
async def proxied() -> AsyncIterator[FaultProxy]:
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    proxy = FaultProxy("127.0.0.1", 0, "127.0.0.1", echo.sockets[0].getsockname()[1], seed=11)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
        echo.close()
        await echo.wait_closed()


async def connect(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def roundtrip(proxy: FaultProxy, payload: bytes) -> bytes:
    reader, writer = await connect(proxy)
    writer.write(payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.readexactly(len(payload)), WAIT)
    writer.close()
    return data


def sample(proxy: FaultProxy, name: str, **labels: str) -> float:
    value = proxy.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}
_loop_factory: list[Callable[[], asyncio.AbstractEventLoop]] = [asyncio.new_event_loop]


@pytest.fixture(autouse=True, params=sorted(LOOPS))
def event_loop_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    _loop_factory[0] = LOOPS[request.param]
    yield request.param
    _loop_factory[0] = asyncio.new_event_loop


def run(coro: Coroutine[Any, Any, None]) -> None:
    with asyncio.Runner(loop_factory=_loop_factory[0]) as runner:
        runner.run(coro)


def test_bytes_pass_unchanged_in_both_directions() -> None:
    async def scenario() -> None:
        async with proxied() as proxy:
            payload = bytes(range(256)) * 1000
            assert await roundtrip(proxy, payload) == payload
            assert sample(proxy, "faultproxy_bytes_total", direction="from") == len(payload)

    run(scenario())


@pytest.mark.parametrize("payload", [b"early", b""])
def test_bytes_and_eof_sent_before_the_upstream_connects_are_forwarded(payload: bytes) -> None:
    async def scenario() -> None:
        async with proxied() as proxy:
            proxy.set_fault(NetworkFault("outage", loss=Loss(1.0)))  # holds the upstream handshake
            reader, writer = await connect(proxy)
            writer.write(payload)
            writer.write_eof()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.read(1), SILENCE)
            proxy.clear_all()
            assert await asyncio.wait_for(reader.read(), WAIT) == payload  # echoed, then closed
            writer.close()

    run(scenario())


def test_jittered_delay_never_reorders_bytes_of_a_connection() -> None:
    async def scenario() -> None:
        async with proxied() as proxy:
            proxy.set_fault(NetworkFault("jitter", "both", delay=Delay(0.005, 0.02)))
            reader, writer = await connect(proxy)
            expected = b""
            for seq in range(150):
                message = f"<{seq:04d}>".encode()
                expected += message
                writer.write(message)
                await writer.drain()
                await asyncio.sleep(0)
            received = await asyncio.wait_for(reader.readexactly(len(expected)), WAIT)
            writer.close()
            assert received == expected
            assert sample(proxy, "faultproxy_injected_delay_seconds_count", direction="to") > 0

    run(scenario())


def test_refusing_partition_resets_new_and_open_connections() -> None:
    async def scenario() -> None:
        async with proxied() as proxy:
            reader, writer = await connect(proxy)
            writer.write(b"hi")
            assert await asyncio.wait_for(reader.readexactly(2), WAIT) == b"hi"
            proxy.set_fault(NetworkFault("cut", partition="refuse"))
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await asyncio.wait_for(reader.readexactly(1), WAIT)
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await roundtrip(proxy, b"again")
            assert proxy.clear_fault("cut")
            assert await roundtrip(proxy, b"back") == b"back"

    run(scenario())


def test_black_hole_holds_bytes_until_the_partition_ends() -> None:
    async def scenario() -> None:
        async with proxied() as proxy:
            reader, writer = await connect(proxy)
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.readexactly(4), WAIT) == b"ping"
            proxy.set_fault(NetworkFault("hole", partition="blackhole"))
            writer.write(b"lost?")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.readexactly(5), SILENCE)
            proxy.clear_fault("hole")
            assert await asyncio.wait_for(reader.readexactly(5), WAIT) == b"lost?"
            writer.close()

    run(scenario())


def test_total_loss_stalls_new_connections_until_it_is_lifted() -> None:
    async def scenario() -> None:
        async with proxied() as proxy:
            proxy.set_fault(NetworkFault("outage", loss=Loss(1.0)))
            reader, writer = await connect(proxy)
            writer.write(b"x")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.readexactly(1), SILENCE)
            proxy.clear_all()
            assert await asyncio.wait_for(reader.readexactly(1), WAIT) == b"x"
            assert sample(proxy, "faultproxy_connections_total", outcome="forwarded") == 1
            writer.close()

    run(scenario())


def test_control_api_sets_lists_and_clears_faults() -> None:
    async def scenario() -> None:
        async with proxied() as proxy:
            transport = httpx.ASGITransport(app=proxy_control_app(proxy))
            async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
                bad = await client.put("/faults/slow", json={"delay": {"latency": -0.1}})
                assert bad.status_code == 422
                assert "delay.latency=-0.1" in bad.text
                ok = await client.put("/faults/slow", json={"delay": {"latency": 0.2, "jitter": 0.05}})
                assert ok.status_code == 200
                assert ok.json()["faults"] == [
                    {
                        "name": "slow",
                        "direction": "to",
                        "delay": {"latency": 0.2, "jitter": 0.05, "correlation": 0.0},
                    }
                ]
                assert proxy.effect("to").delay == Delay(0.2, 0.05)
                metrics = (await client.get("/metrics")).text
                assert 'faultproxy_fault_delay_seconds{direction="to",fault="slow"} 0.2' in metrics
                assert (await client.delete("/faults/none")).status_code == 404
                assert (await client.delete("/faults/slow")).json()["faults"] == []
                assert proxy.effect("to").idle

    run(scenario())
