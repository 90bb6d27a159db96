"""The pod's Redis client: HGETALL over pooled asyncio connections, replies parsed by hiredis.

The feature store makes one call per prediction, and redis-py's asyncio client spent about as much
CPU on it as the rest of the request: a command goes through the client, the retry wrapper, the
event dispatcher, the connection pool, a stream reader and a per-read timeout before hiredis sees
the reply. Here a connection is an `asyncio.Protocol` that feeds received bytes straight to
`hiredis.Reader` and completes one future per command.

Semantics kept from the redis-py set-up it replaces: no retries; a refused connection raises
`OSError`; a connection that closes under a call raises `redis.ConnectionError`; an error reply
raises `redis.ResponseError`; a malformed reply `redis.InvalidResponse`. A call has no deadline of
its own: the caller bounds it (asyncio.timeout), and a cancelled call closes its connection, whose
reply may still be on its way. One command at a time per connection; idle connections are reused,
connections the server closed are dropped before they are used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, cast

import hiredis
from redis.asyncio.connection import UnixDomainSocketConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError

from service.errors import ServiceConfigError


def pack(*parts: bytes) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


class _Connection(asyncio.Protocol):
    """One connection: writes a command, completes its future when hiredis has the whole reply."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader(
            protocolError=InvalidResponse, replyError=ResponseError, encoding="utf-8"
        )
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Any] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.close()  # bytes nobody asked for: this connection is out of step
            return
        self._reader.feed(data)
        try:
            reply = self._reader.gets()
        except (InvalidResponse, UnicodeDecodeError) as exc:  # not RESP, or text that is not UTF-8
            waiter.set_exception(exc if isinstance(exc, InvalidResponse) else InvalidResponse(str(exc)))
            self.close()
            return
        if reply is not False:
            self._waiter = None
            waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            error = RedisConnectionError(f"the feature store closed the connection ({exc or 'EOF'})")
            waiter.set_exception(error)

    async def call(self, command: bytes) -> Any:
        if self.lost or self._transport is None:
            raise RedisConnectionError("the feature store closed the connection")
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(command)
        reply = await waiter
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def close(self) -> None:
        self.lost = True
        if self._transport is not None:
            self._transport.close()


class RedisClient:
    """Connections to the Redis at `url` (redis://[[user]:password@]host:port/db or unix://path?db=N)."""

    def __init__(self, url: str, max_connections: int = 32) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections={max_connections} must be >= 1")
        try:
            options = parse_url(url)
        except ValueError as exc:
            raise ServiceConfigError(f"--redis-url={url!r}: {exc}") from None
        connection_class = options.get("connection_class")
        if connection_class not in (None, UnixDomainSocketConnection):
            raise ServiceConfigError(f"--redis-url={url!r}: TLS (rediss://) is not supported")
        self.url = url
        self.max_connections = max_connections
        self._path: str | None = options.get("path")
        self._host: str = options.get("host", "localhost")
        self._port: int = int(options.get("port", 6379))
        self._setup = self._setup_commands(options)
        self._idle: list[_Connection] = []
        self._busy = 0
        self._closed = False

    @staticmethod
    def _setup_commands(options: Mapping[str, Any]) -> Sequence[bytes]:
        commands = []
        password, username = options.get("password"), options.get("username")
        if password is not None:
            credentials = [username, password] if username else [password]
            commands.append(pack(b"AUTH", *(str(c).encode() for c in credentials)))
        if int(options.get("db", 0)):
            commands.append(pack(b"SELECT", str(int(options["db"])).encode()))
        return commands

    @property
    def connections(self) -> int:
        """Open connections, idle or in a call."""
        return self._busy + len(self._idle)

    async def hgetall(self, key: str) -> dict[str, str]:
        reply = await self.call(pack(b"HGETALL", key.encode()))
        return dict(zip(reply[::2], reply[1::2], strict=True))

    async def call(self, command: bytes) -> Any:
        """Send one packed command (see `pack`) and return its reply."""
        connection = self._take()
        self._busy += 1
        try:
            if connection is None:
                connection = await self._connect()
            reply = await connection.call(command)
        except BaseException:
            if connection is not None:
                connection.close()  # an interrupted call leaves the connection out of step
            raise
        finally:
            self._busy -= 1
        if self._closed:
            connection.close()
        else:
            self._idle.append(connection)
        return reply

    def _take(self) -> _Connection | None:
        if self._closed:
            raise RedisConnectionError("the feature-store client is closed")
        while self._idle:
            connection = self._idle.pop()
            if not connection.lost:
                return connection
        if self._busy >= self.max_connections:
            raise RedisConnectionError(f"too many feature-store connections ({self.max_connections} in use)")
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._path is not None:
            _, connection = await loop.create_unix_connection(_Connection, self._path)
        else:
            _, connection = await loop.create_connection(_Connection, self._host, self._port)
        try:
            for command in self._setup:
                await connection.call(command)
        except BaseException:
            connection.close()
            raise
        return connection

    async def close(self) -> None:
        """Close the idle connections now and busy ones when their call ends; later calls fail."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
