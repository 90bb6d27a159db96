"""The fault proxy: a transparent asyncio TCP proxy in front of the feature store.

Every byte between the pods and Redis goes through it. With no fault active it forwards chunks as
they come. Named faults (testbed.faults) add delay with jitter, lose segments or partition; bytes of
one connection and direction always leave in the order they came, however long each is held.

The proxy is the I/O edge; what happens to a chunk is decided by the pure samplers in
testbed.faults. Its metrics live in its own registry so several proxies can share a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from testbed.faults import (
    SEGMENT_RTO,
    SYN_RTO,
    DelaySampler,
    Effect,
    LossSampler,
    NetworkFault,
    merge,
    retransmission_delays,
)

log = logging.getLogger(__name__)

TO_STORE = "from"
"""Requests flow from the pods to the store: the store's ingress ("from" in netem terms here)."""
FROM_STORE = "to"
"""Replies flow from the store to the pods: the store's egress, what direction "to" delays."""
DELAY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0)


class ConnectionReset(Exception):
    """A refusing partition started while a connection was open."""


@dataclass
class ProxyMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.connections = Counter(
            "faultproxy_connections", "Client connections accepted", ["outcome"], registry=r
        )
        self.active = Gauge("faultproxy_connections_active", "Connections open now", registry=r)
        self.bytes = Counter("faultproxy_bytes", "Bytes forwarded", ["direction"], registry=r)
        self.delay = Histogram(
            "faultproxy_injected_delay_seconds",
            "Delay added to one chunk",
            ["direction"],
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        self.lost = Counter(
            "faultproxy_segments_lost", "Transmissions lost (then retransmitted)", ["direction"], registry=r
        )
        self.upstream_errors = Counter(
            "faultproxy_upstream_errors", "Failed connections to the upstream", registry=r
        )
        self.fault_delay = Gauge(
            "faultproxy_fault_delay_seconds", "Active delay per fault", ["fault", "direction"], registry=r
        )
        self.fault_jitter = Gauge(
            "faultproxy_fault_jitter_seconds", "Active jitter per fault", ["fault", "direction"], registry=r
        )
        self.fault_loss = Gauge(
            "faultproxy_fault_loss_ratio", "Active loss per fault", ["fault", "direction"], registry=r
        )
        self.fault_partition = Gauge(
            "faultproxy_fault_partition", "1 while a fault partitions", ["fault", "mode"], registry=r
        )
        # Every forwarded chunk counts its bytes: the labelled children are looked up once.
        self._bytes_by_direction = {d: self.bytes.labels(d) for d in (TO_STORE, FROM_STORE)}

    def count_bytes(self, direction: str, n: int) -> None:
        self._bytes_by_direction[direction].inc(n)

    def show_faults(self, faults: dict[str, NetworkFault]) -> None:
        for gauge in (self.fault_delay, self.fault_jitter, self.fault_loss, self.fault_partition):
            gauge.clear()
        for fault in faults.values():
            if fault.delay:
                self.fault_delay.labels(fault.name, fault.direction).set(fault.delay.latency)
                self.fault_jitter.labels(fault.name, fault.direction).set(fault.delay.jitter)
            if fault.loss:
                self.fault_loss.labels(fault.name, fault.direction).set(fault.loss.loss)
            if fault.partition:
                self.fault_partition.labels(fault.name, fault.partition).set(1)


class FaultProxy:
    """Listens on (host, port) and forwards to (upstream_host, upstream_port) through the faults."""

    def __init__(
        self,
        host: str,
        port: int,
        upstream_host: str,
        upstream_port: int,
        seed: int | None = None,
        metrics: ProxyMetrics | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.upstream = (upstream_host, upstream_port)
        self.metrics = metrics or ProxyMetrics()
        self._rng = random.Random(seed)
        self._faults: dict[str, NetworkFault] = {}
        self._effects = {d: Effect() for d in (TO_STORE, FROM_STORE)}
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    # -- faults ------------------------------------------------------------------------------
    @property
    def faults(self) -> dict[str, NetworkFault]:
        return dict(self._faults)

    def effect(self, direction: str) -> Effect:
        return self._effects[direction]

    def set_fault(self, fault: NetworkFault) -> None:
        """Add or replace a named fault; a refusing partition resets every open connection."""
        self._faults[fault.name] = fault
        self._refresh()
        log.info("fault %s set: %s", fault.name, fault.to_json())
        if self.refusing:
            for link in list(self._links):
                link.reset()

    def clear_fault(self, name: str) -> bool:
        removed = self._faults.pop(name, None) is not None
        if removed:
            self._refresh()
            log.info("fault %s cleared", name)
        return removed

    def clear_all(self) -> None:
        self._faults.clear()
        self._refresh()

    @property
    def refusing(self) -> bool:
        return any(e.partition == "refuse" for e in self._effects.values())

    def _refresh(self) -> None:
        self._effects = {d: merge(self._faults.values(), d) for d in (TO_STORE, FROM_STORE)}
        self.metrics.show_faults(self._faults)
        self._changed.set()
        self._changed = asyncio.Event()

    # -- server ------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Side(self._accept), self.host, self.port, reuse_address=True
        )
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]
        log.info("fault proxy on %s:%d -> %s:%d", self.host, self.port, *self.upstream)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _accept(self, client: _Side) -> _Link | None:
        """A client connected: refuse it, or open a link that connects upstream."""
        if self.refusing:
            self.metrics.connections.labels("refused").inc()
            client.reset()
            return None
        link = _Link(self, client)
        self._links.add(link)
        self.metrics.active.inc()
        return link

    def _closed(self, link: _Link) -> None:
        if link in self._links:
            self._links.discard(link)
            self.metrics.active.dec()

    # -- what one transmission suffers -------------------------------------------------------
    def draw_delay(self, direction: str, sampler: DelaySampler) -> float:
        delay = self._effects[direction].delay
        return sampler.draw(delay) if delay else 0.0

    def transmission_lost(self, direction: str, sampler: LossSampler) -> bool:
        """Whether one transmission in `direction` is lost now (a black-holing partition loses all)."""
        effect = self._effects[direction]
        if effect.partition is not None:
            return True
        return effect.loss is not None and sampler.lost(effect.loss)

    async def wait_for_change(self, timeout: float) -> None:
        """Sleep `timeout` seconds, or less when the faults change."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def new_rng(self) -> random.Random:
        return random.Random(self._rng.getrandbits(64))


class _Side(asyncio.Protocol):
    """One socket of a link: the client's, or the upstream's."""

    def __init__(self, on_connect: Callable[[_Side], _Link | None] | None = None, link: _Link | None = None):
        self._on_connect = on_connect
        self.link = link
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport
        if self._on_connect is not None:
            self.transport.pause_reading()
            self.link = self._on_connect(self)

    def data_received(self, data: bytes) -> None:
        if self.link is not None:
            self.link.received(self, data)

    def eof_received(self) -> bool:
        if self.link is not None:
            self.link.eof(self)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.close()

    def pause_writing(self) -> None:
        if self.link is not None:
            self.link.throttle(self, pause=True)

    def resume_writing(self) -> None:
        if self.link is not None:
            self.link.throttle(self, pause=False)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def write_eof(self) -> None:
        if self.transport is not None and not self.transport.is_closing() and self.transport.can_write_eof():
            self.transport.write_eof()

    def reset(self) -> None:
        """Close with RST (SO_LINGER 0), as a REJECT --reject-with tcp-reset would."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _Link:
    """A client connection and its upstream connection; bytes cross through the faults in order."""

    def __init__(self, proxy: FaultProxy, client: _Side) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = _Side(link=self)
        rng = proxy.new_rng()
        self._delays = {d: DelaySampler(rng) for d in (TO_STORE, FROM_STORE)}
        self._losses = {d: LossSampler(rng) for d in (TO_STORE, FROM_STORE)}
        self._queues: dict[str, deque[tuple[float, bytes]]] = {d: deque() for d in (TO_STORE, FROM_STORE)}
        self._senders: dict[str, asyncio.Task[None]] = {}
        self._eof: set[str] = set()
        self._closed = False
        self._connected = False
        self._early: list[bytes] = []
        """Client bytes read before the upstream connected (uvloop starts reading a new connection
        even when connection_made paused it); forwarded once it is connected."""
        self._connecting = asyncio.create_task(self._connect())

    # -- set-up ------------------------------------------------------------------------------
    async def _connect(self) -> None:
        metrics, loop = self.proxy.metrics, asyncio.get_running_loop()
        try:
            await self._handshake()
            await loop.create_connection(lambda: self.upstream, *self.proxy.upstream)
        except ConnectionReset:
            metrics.connections.labels("reset").inc()
            self.reset()
            return
        except OSError as exc:
            log.warning("upstream %s:%d unreachable: %s", *self.proxy.upstream, exc)
            metrics.upstream_errors.inc()
            metrics.connections.labels("upstream_error").inc()
            self.reset()
            return
        metrics.connections.labels("forwarded").inc()
        self._connected = True
        early, self._early = self._early, []
        for data in early:
            self.received(self.client, data)
        if TO_STORE in self._eof:
            self._eof.discard(TO_STORE)
            self.eof(self.client)
        if self.client.transport is not None and not self.client.transport.is_closing():
            self.client.transport.resume_reading()

    async def _handshake(self) -> None:
        """Emulate the handshake: a lost SYN (or SYN-ACK) is retried after 1 s, 2 s, 4 s..."""
        waits = retransmission_delays(SYN_RTO)
        while True:
            if self.proxy.refusing or self._closed:
                raise ConnectionReset
            if not any(self.proxy.transmission_lost(d, s) for d, s in self._losses.items()):
                return
            await self.proxy.wait_for_change(next(waits))

    # -- forwarding --------------------------------------------------------------------------
    def _route(self, side: _Side) -> tuple[str, _Side]:
        """The direction of bytes arriving on `side`, and the side they leave by."""
        return (TO_STORE, self.upstream) if side is self.client else (FROM_STORE, self.client)

    def received(self, side: _Side, data: bytes) -> None:
        if not self._connected:
            self._early.append(data)
            if side.transport is not None:
                side.transport.pause_reading()
            return
        direction, out = self._route(side)
        queue = self._queues[direction]
        if not queue and self.proxy.effect(direction).idle:
            self._count(direction, data)
            out.write(data)
            return
        release_at = asyncio.get_running_loop().time() + self.proxy.draw_delay(
            direction, self._delays[direction]
        )
        queue.append((release_at, data))
        if direction not in self._senders:
            self._senders[direction] = asyncio.create_task(self._send(direction, out))

    async def _send(self, direction: str, out: _Side) -> None:
        proxy, queue, loop = self.proxy, self._queues[direction], asyncio.get_running_loop()
        try:
            while queue:
                release_at, data = queue[0]
                held = release_at - loop.time()
                proxy.metrics.delay.labels(direction).observe(max(0.0, held))
                if held > 0:
                    await asyncio.sleep(held)
                waits = retransmission_delays(SEGMENT_RTO)
                while proxy.transmission_lost(direction, self._losses[direction]):
                    proxy.metrics.lost.labels(direction).inc()
                    await proxy.wait_for_change(next(waits))
                queue.popleft()
                self._count(direction, data)
                out.write(data)
            if direction in self._eof:
                out.write_eof()
        finally:
            self._senders.pop(direction, None)

    def eof(self, side: _Side) -> None:
        direction, out = self._route(side)
        self._eof.add(direction)
        if not self._connected:
            return  # passed on after the early bytes, once the upstream is connected
        if not self._queues[direction]:
            out.write_eof()
        if len(self._eof) == 2 and not any(self._queues.values()):
            self.close()

    def throttle(self, side: _Side, pause: bool) -> None:
        """`side` cannot take more bytes for now: stop (or resume) reading from the other side."""
        other = self.client if side is self.upstream else self.upstream
        if other.transport is None or other.transport.is_closing():
            return
        if pause:
            other.transport.pause_reading()
        else:
            other.transport.resume_reading()

    def _count(self, direction: str, data: bytes) -> None:
        self.proxy.metrics.count_bytes(direction, len(data))

    # -- ending ------------------------------------------------------------------------------
    def reset(self) -> None:
        self.client.reset()
        self.upstream.reset()
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in [self._connecting, *self._senders.values()]:
            task.cancel()
        self.client.close()
        self.upstream.close()
        self.proxy._closed(self)
