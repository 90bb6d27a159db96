"""Network faults the fault proxy injects, as values, and the random draws that realise them.

This is the proxy's netem: pure data and seeded samplers, no sockets and no clock.

- Delay: each chunk of bytes is held `latency + jitter * z` seconds (z standard normal, as netem's
  default "normal" distribution table; negative draws are cut at 0). `correlation` makes z an AR(1)
  series, z_k = rho * z_{k-1} + sqrt(1 - rho^2) * e_k, which keeps the marginal distribution (netem's
  own approximation shrinks the variance instead).
- Loss: each segment is lost with probability `loss`; `correlation` is the lag-1 correlation of a
  two-state Markov chain whose stationary loss rate stays `loss`. A lost segment is retransmitted
  as TCP does: after an RTO of 200 ms that doubles per attempt (1 s for a connection's SYN).
- Partition: `blackhole` holds every byte (as an iptables DROP: retransmissions until it ends),
  `refuse` resets connections (as REJECT --reject-with tcp-reset).

Several named faults can be active at once; like Chaos Mesh merging netem settings on one pod, the
effective fault takes the largest latency, jitter and correlation, combines losses as independent
drops, and partitions whenever any fault partitions.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chaos.errors import ChaosLabError

DIRECTIONS = ("to", "from", "both")
PARTITION_MODES = ("blackhole", "refuse")
SEGMENT_RTO = 0.2
"""Linux TCP_RTO_MIN: the first retransmission of a lost data segment."""
SYN_RTO = 1.0
"""Linux initial RTO for a connection's SYN (RFC 6298)."""
RTO_MAX = 120.0
"""Linux TCP_RTO_MAX: retransmission intervals stop doubling here."""


class FaultError(ChaosLabError):
    """A fault description the proxy cannot apply; names the field and value."""

    hint = "see testbed/faults.py for the fields a fault takes"


@dataclass(frozen=True)
class Delay:
    latency: float
    jitter: float = 0.0
    correlation: float = 0.0

    def __post_init__(self) -> None:
        _check_range("delay.latency", self.latency, 0.0, math.inf)
        _check_range("delay.jitter", self.jitter, 0.0, math.inf)
        _check_range("delay.correlation", self.correlation, 0.0, 1.0)


@dataclass(frozen=True)
class Loss:
    loss: float
    correlation: float = 0.0

    def __post_init__(self) -> None:
        _check_range("loss.loss", self.loss, 0.0, 1.0)
        _check_range("loss.correlation", self.correlation, 0.0, 1.0)


@dataclass(frozen=True)
class NetworkFault:
    """One named fault; `direction` "to" acts on the store's replies, "from" on its requests."""

    name: str
    direction: str = "to"
    delay: Delay | None = None
    loss: Loss | None = None
    partition: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise FaultError("name='' must be a non-empty string")
        if self.direction not in DIRECTIONS:
            raise FaultError(f"direction={self.direction!r} must be one of {', '.join(DIRECTIONS)}")
        if self.partition is not None and self.partition not in PARTITION_MODES:
            raise FaultError(f"partition={self.partition!r} must be one of {', '.join(PARTITION_MODES)}")
        if self.delay is None and self.loss is None and self.partition is None:
            raise FaultError(f"fault {self.name!r} needs delay, loss or partition")

    def acts_on(self, direction: str) -> bool:
        """Whether this fault touches bytes flowing `direction` ("to" = store replies, "from" = requests)."""
        return self.direction in (direction, "both")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "direction": self.direction}
        if self.delay:
            data["delay"] = {
                "latency": self.delay.latency,
                "jitter": self.delay.jitter,
                "correlation": self.delay.correlation,
            }
        if self.loss:
            data["loss"] = {"loss": self.loss.loss, "correlation": self.loss.correlation}
        if self.partition:
            data["partition"] = self.partition
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NetworkFault:
        """Build from the control API's JSON (seconds and fractions); raises FaultError."""
        known = {"name", "direction", "delay", "loss", "partition"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FaultError(f"field {unknown[0]!r} is not a known fault field ({', '.join(sorted(known))})")
        delay = _section(data, "delay", ("latency", "jitter", "correlation"))
        loss = _section(data, "loss", ("loss", "correlation"))
        try:
            return cls(
                name=str(data.get("name", "")),
                direction=str(data.get("direction", "to")),
                delay=Delay(**delay) if delay is not None else None,
                loss=Loss(**loss) if loss is not None else None,
                partition=data.get("partition"),
            )
        except TypeError as exc:
            raise FaultError(f"fault is missing a field: {exc}") from exc


@dataclass(frozen=True)
class Effect:
    """What the merged faults do to one direction of traffic."""

    delay: Delay | None = None
    loss: Loss | None = None
    partition: str | None = None

    @property
    def idle(self) -> bool:
        return self.delay is None and self.loss is None and self.partition is None


def merge(faults: Iterable[NetworkFault], direction: str) -> Effect:
    """The combined effect of every fault acting on `direction`."""
    active = [f for f in faults if f.acts_on(direction)]
    delays = [f.delay for f in active if f.delay]
    losses = [f.loss for f in active if f.loss]
    partitions = [f.partition for f in active if f.partition]
    delay = (
        Delay(
            latency=max(d.latency for d in delays),
            jitter=max(d.jitter for d in delays),
            correlation=max(d.correlation for d in delays),
        )
        if delays
        else None
    )
    loss = (
        Loss(
            loss=1.0 - math.prod(1.0 - x.loss for x in losses),
            correlation=max(x.correlation for x in losses),
        )
        if losses
        else None
    )
    partition = ("refuse" if "refuse" in partitions else "blackhole") if partitions else None
    return Effect(delay, loss, partition)


class DelaySampler:
    """Per-chunk delays: normal(latency, jitter) cut at 0, AR(1)-correlated."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._z = 0.0
        self._started = False

    def draw(self, delay: Delay) -> float:
        fresh = self._rng.gauss(0.0, 1.0)
        rho = delay.correlation
        if self._started and rho > 0:
            self._z = rho * self._z + math.sqrt(1.0 - rho * rho) * fresh
        else:
            self._z = fresh
        self._started = True
        return max(0.0, delay.latency + delay.jitter * self._z)


class LossSampler:
    """Lost or not per segment: a two-state Markov chain with stationary rate `loss`."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._last = False

    def lost(self, loss: Loss) -> bool:
        p, rho = loss.loss, loss.correlation
        if p >= 1.0:
            self._last = True
        elif p <= 0.0:
            self._last = False
        else:
            chance = p + rho * (1.0 - p) if self._last else p * (1.0 - rho)
            self._last = self._rng.random() < chance
        return self._last


def retransmission_delays(first_rto: float) -> Iterator[float]:
    """The waits between TCP retransmissions of one segment: first_rto, doubling, capped at RTO_MAX."""
    rto = first_rto
    while True:
        yield rto
        rto = min(rto * 2.0, RTO_MAX)


def _section(data: Mapping[str, Any], key: str, fields: tuple[str, ...]) -> dict[str, float] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise FaultError(f"{key}={value!r} must be a mapping with {', '.join(fields)}")
    out: dict[str, float] = {}
    for name, number in value.items():
        if name not in fields:
            raise FaultError(f"{key}.{name} is not a known field ({', '.join(fields)})")
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise FaultError(f"{key}.{name}={number!r} must be a number")
        out[str(name)] = float(number)
    return out


def _check_range(field: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high) or math.isnan(value):
        raise FaultError(f"{field}={value!r} must be in [{low:g}, {high:g}]")
