"""The pod's Redis client against a scriptable RESP server in the test (no redis-server needed).

Every scenario runs on both event loops a pod can have: asyncio's and uvloop's (the pods').
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import hiredis
import pytest
import redis
import uvloop

from service.errors import ServiceConfigError
from service.redis_client import RedisClient, pack

TEST_DEADLINE = 5.0
HASH = {"mean_radius": "14.1", "mean_texture": "20.5"}
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    def runner(main: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as r:
            return r.run(asyncio.wait_for(main, TEST_DEADLINE))

    return runner


async def _until(condition: Callable[[], bool]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TEST_DEADLINE
    while not condition():
        assert loop.time() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.001)


def _bulk(text: str) -> bytes:
    data = text.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


class FakeRedis:
    """Answers HGETALL from `hashes`; `hold` keeps the next HGETALL replies until released."""

    def __init__(self, hashes: dict[str, dict[str, str]]) -> None:
        self.hashes = hashes
        self.commands: list[list[str]] = []
        self.connections = 0
        self.ended = 0
        self.hold = False
        self.released = asyncio.Event()
        self.error_reply = False
        self.raw_reply: bytes | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def stop(self) -> None:
        self.drop_connections()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def drop_connections(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        parser = hiredis.Reader(encoding="utf-8")
        try:
            while data := await reader.read(65536):
                parser.feed(data)
                while (command := parser.gets()) is not False:
                    self.commands.append(command)
                    if self.hold and command[0] == "HGETALL" and not await self._held(reader):
                        return
                    writer.write(self._reply(command))
        finally:
            self.ended += 1

    async def _held(self, reader: asyncio.StreamReader) -> bool:
        """Wait for `released`; False when the client closes the connection first."""
        closed = asyncio.ensure_future(reader.read(1))
        released = asyncio.ensure_future(self.released.wait())
        done, _ = await asyncio.wait({closed, released}, return_when=asyncio.FIRST_COMPLETED)
        for task in (closed, released):
            task.cancel()
        return not (closed in done and closed.result() == b"")

    def _reply(self, command: list[str]) -> bytes:
        if self.raw_reply is not None:
            return self.raw_reply
        if self.error_reply:
            return b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        if command[0] != "HGETALL":
            return b"+OK\r\n"
        fields = self.hashes.get(command[1], {})
        return b"*%d\r\n" % (2 * len(fields)) + b"".join(_bulk(k) + _bulk(v) for k, v in fields.items())


Scenario = Callable[[FakeRedis, RedisClient], Awaitable[Any]]


async def _with_server(scenario: Scenario, **options: Any) -> Any:
    fake = FakeRedis({"features:1": HASH, "features:2": {"mean_radius": "9.5"}})
    client = RedisClient(await fake.start(), **options)
    try:
        return await scenario(fake, client)
    finally:
        await client.close()
        await fake.stop()


def test_hgetall_reads_a_hash_over_one_reused_connection(run: Any) -> None:
    async def scenario(fake: FakeRedis, client: RedisClient) -> None:
        assert await client.hgetall("features:1") == HASH
        assert await client.hgetall("features:9") == {}
        assert await client.hgetall("features:2") == {"mean_radius": "9.5"}
        assert fake.connections == 1 and client.connections == 1

    run(_with_server(scenario))


def test_concurrent_calls_get_their_own_replies_on_their_own_connections(run: Any) -> None:
    async def scenario(fake: FakeRedis, client: RedisClient) -> None:
        replies = await asyncio.gather(*(client.hgetall(f"features:{1 + i % 2}") for i in range(6)))
        assert replies == [HASH, {"mean_radius": "9.5"}] * 3
        assert fake.connections == client.connections == 6

    run(_with_server(scenario))


def test_a_cancelled_call_closes_its_connection_so_its_late_reply_is_never_read(run: Any) -> None:
    async def scenario(fake: FakeRedis, client: RedisClient) -> None:
        fake.hold = True
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await client.hgetall("features:1")
        assert client.connections == 0
        await _until(lambda: fake.ended == 1)  # closed at once, not left to its late reply
        fake.hold = False
        fake.released.set()  # the late reply to features:1 goes out on the closed connection
        assert await client.hgetall("features:2") == {"mean_radius": "9.5"}
        assert fake.connections == 2

    run(_with_server(scenario))


def test_a_connection_the_server_closed_is_not_reused(run: Any) -> None:
    async def scenario(fake: FakeRedis, client: RedisClient) -> None:
        assert await client.hgetall("features:1") == HASH
        fake.drop_connections()
        await _until(lambda: all(c.lost for c in client._idle))  # the client's loop sees the close
        assert await client.hgetall("features:1") == HASH
        assert fake.connections == 2

    run(_with_server(scenario))


def test_a_close_during_a_call_is_a_redis_connection_error(run: Any) -> None:
    async def scenario(fake: FakeRedis, client: RedisClient) -> None:
        fake.hold = True
        call = asyncio.ensure_future(client.hgetall("features:1"))
        await _until(lambda: bool(fake.writers))
        fake.drop_connections()
        with pytest.raises(redis.ConnectionError, match="closed the connection"):
            await call
        assert client.connections == 0

    run(_with_server(scenario))


def test_an_error_reply_raises_a_response_error(run: Any) -> None:
    async def scenario(fake: FakeRedis, client: RedisClient) -> None:
        fake.error_reply = True
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            await client.hgetall("features:1")
        fake.error_reply = False
        assert await client.hgetall("features:1") == HASH

    run(_with_server(scenario))


@pytest.mark.parametrize("reply", [b"?what\r\n", b"*2\r\n$1\r\na\r\n$1\r\n\xff\r\n"])
def test_an_unreadable_reply_is_an_invalid_response_and_ends_the_connection(run: Any, reply: bytes) -> None:
    async def scenario(fake: FakeRedis, client: RedisClient) -> None:
        fake.raw_reply = reply
        with pytest.raises(redis.InvalidResponse):
            await client.hgetall("features:1")
        assert client.connections == 0
        fake.raw_reply = None
        assert await client.hgetall("features:1") == HASH

    run(_with_server(scenario))


def test_a_refused_connection_is_an_os_error(run: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused

        async def main() -> None:
            client = RedisClient(f"redis://127.0.0.1:{port}/0")
            with pytest.raises(OSError):
                await client.hgetall("features:1")
            assert client.connections == 0

        run(main())


def test_password_and_database_are_sent_before_the_first_command(run: Any) -> None:
    async def scenario(fake: FakeRedis, client: RedisClient) -> None:
        assert await client.hgetall("features:1") == HASH
        assert fake.commands == [["AUTH", "reader", "s3cret"], ["SELECT", "3"], ["HGETALL", "features:1"]]

    async def main() -> None:
        fake = FakeRedis({"features:1": HASH})
        url = (await fake.start()).replace("127.0.0.1", "reader:s3cret@127.0.0.1").replace("/0", "/3")
        client = RedisClient(url)
        try:
            await scenario(fake, client)
        finally:
            await client.close()
            await fake.stop()

    run(main())


def test_connections_are_bounded(run: Any) -> None:
    async def scenario(fake: FakeRedis, client: RedisClient) -> None:
        fake.hold = True
        calls = [asyncio.ensure_future(client.hgetall("features:1")) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(redis.ConnectionError, match="too many"):
            await client.hgetall("features:1")
        fake.released.set()
        assert await asyncio.gather(*calls) == [HASH, HASH]

    run(_with_server(scenario, max_connections=2))


def test_a_closed_client_refuses_calls(run: Any) -> None:
    async def scenario(fake: FakeRedis, client: RedisClient) -> None:
        assert await client.hgetall("features:1") == HASH
        await client.close()
        assert client.connections == 0
        with pytest.raises(redis.ConnectionError, match="closed"):
            await client.hgetall("features:1")

    run(_with_server(scenario))


def test_urls_it_cannot_serve_are_named() -> None:
    with pytest.raises(ServiceConfigError, match="rediss://"):
        RedisClient("rediss://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="max_connections=0"):
        RedisClient("redis://127.0.0.1:6379/0", max_connections=0)


def test_pack_writes_resp_arrays() -> None:
    assert pack(b"HGETALL", b"features:1") == b"*2\r\n$7\r\nHGETALL\r\n$10\r\nfeatures:1\r\n"
