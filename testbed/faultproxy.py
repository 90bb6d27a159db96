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
from collections.abc import Iterator
from dataclasses import dataclass, field

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

CHUNK_BYTES = 65536
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
        self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)
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

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            self.metrics.connections.labels("refused").inc()
            _reset(writer)
            return
        link = _Link(self, reader, writer)
        self._links.add(link)
        self.metrics.active.inc()
        try:
            await link.run()
        finally:
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


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, proxy: FaultProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.client = (reader, writer)
        self.upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.rng = proxy.new_rng()
        self._tasks: list[asyncio.Task[None]] = []
        self._reset = False

    async def run(self) -> None:
        metrics = self.proxy.metrics
        try:
            await self._establish()
            self.upstream = await asyncio.open_connection(*self.proxy.upstream)
        except ConnectionReset:
            metrics.connections.labels("reset").inc()
            _reset(self.client[1])
            return
        except OSError as exc:
            log.warning("upstream %s:%d unreachable: %s", *self.proxy.upstream, exc)
            metrics.upstream_errors.inc()
            metrics.connections.labels("upstream_error").inc()
            _reset(self.client[1])
            return
        metrics.connections.labels("forwarded").inc()
        up_reader, up_writer = self.upstream
        self._tasks = [
            asyncio.create_task(_Pipe(self, TO_STORE, self.client[0], up_writer).run()),
            asyncio.create_task(_Pipe(self, FROM_STORE, up_reader, self.client[1]).run()),
        ]
        await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        self.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _establish(self) -> None:
        """Emulate the handshake: a lost SYN (or SYN-ACK) is retried after 1 s, 2 s, 4 s..."""
        losses = {d: LossSampler(self.rng) for d in (TO_STORE, FROM_STORE)}
        waits = retransmission_delays(SYN_RTO)
        while True:
            if self.proxy.refusing or self._reset:
                raise ConnectionReset
            if not any(self.proxy.transmission_lost(d, s) for d, s in losses.items()):
                return
            await self.proxy.wait_for_change(next(waits))

    def reset(self) -> None:
        self._reset = True
        _reset(self.client[1])
        if self.upstream is not None:
            _reset(self.upstream[1])
        for task in self._tasks:
            task.cancel()

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for writer in self._writers():
            writer.close()

    def _writers(self) -> Iterator[asyncio.StreamWriter]:
        yield self.client[1]
        if self.upstream is not None:
            yield self.upstream[1]


class _Pipe:
    """One direction of a link: reads chunks, holds each as the faults say, writes them in order."""

    def __init__(
        self, link: _Link, direction: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.link, self.direction = link, direction
        self.reader, self.writer = reader, writer
        self.delays = DelaySampler(link.rng)
        self.losses = LossSampler(link.rng)
        self.queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        self.in_flight = 0

    async def run(self) -> None:
        proxy = self.link.proxy
        loop = asyncio.get_running_loop()
        sender = asyncio.create_task(self._send())
        try:
            while True:
                chunk = await self.reader.read(CHUNK_BYTES)
                if not chunk:
                    break
                if self.in_flight == 0 and proxy.effect(self.direction).idle:
                    await self._write(chunk)
                    continue
                self.in_flight += 1
                self.queue.put_nowait((loop.time() + proxy.draw_delay(self.direction, self.delays), chunk))
            await self.queue.join()
            if self.writer.can_write_eof():
                self.writer.write_eof()
        except (ConnectionError, OSError):
            pass
        finally:
            sender.cancel()

    async def _send(self) -> None:
        proxy, loop, metrics = self.link.proxy, asyncio.get_running_loop(), self.link.proxy.metrics
        while True:
            release_at, chunk = await self.queue.get()
            try:
                held = release_at - loop.time()
                metrics.delay.labels(self.direction).observe(max(0.0, held))
                if held > 0:
                    await asyncio.sleep(held)
                waits = retransmission_delays(SEGMENT_RTO)
                while proxy.transmission_lost(self.direction, self.losses):
                    metrics.lost.labels(self.direction).inc()
                    await proxy.wait_for_change(next(waits))
                await self._write(chunk)
            except (ConnectionError, OSError):
                self.link.close()  # the receiving side is gone: end both directions
                return
            finally:
                self.in_flight -= 1
                self.queue.task_done()

    async def _write(self, chunk: bytes) -> None:
        self.writer.write(chunk)
        self.link.proxy.metrics.bytes.labels(self.direction).inc(len(chunk))
        await self.writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), as a REJECT --reject-with tcp-reset would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
