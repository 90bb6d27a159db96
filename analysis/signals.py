"""What Prometheus said about a run as a whole: alerts firing, pods' circuit breakers opening, the
machine's CPU.

The runner asks Prometheus these range queries over the run and keeps the answers as they came
(signals.json in the run record, `Signals`); this module turns them into alert intervals, breaker
stretches per pod and breaker trip times, so a recorded run is analysed with no Prometheus running.
Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FIRING_ALERTS = 'ALERTS{alertstate="firing"}'
BREAKERS_NOT_CLOSED = 'max by (pod) (mlservice_circuit_breaker_state{state!="closed"}) == 1'
"""Per pod, present while its feature-store circuit breaker is open or half-open."""
BREAKER_OPENED = "mlservice_circuit_breaker_opened_timestamp_seconds > 0"
"""Per pod, the unix time its breaker last opened (each opening stays at least `resetTimeout`)."""
HOST_CPU = (
    'sum by (instance, mode) (irate(node_cpu_seconds_total{mode=~"idle|steal"}[1m]))'
    ' / on (instance) group_left count by (instance) (node_cpu_seconds_total{mode="idle"})'
)
"""Per node and mode (idle, steal): the share of the node's CPUs in that mode, between the last two
scrapes (irate: the scrape interval's resolution, whatever it is; 1 s on the testbed)."""
STEP = 1.0
"""Seconds between points of the range queries (the testbed scrapes and evaluates every second)."""

Result = list[dict[str, Any]]
"""A range query's result as Prometheus' HTTP API gives it: [{"metric": {...}, "values": [[t, v]]}]."""


@dataclass(frozen=True)
class AlertInterval:
    """One stretch during which an alert was firing (unix seconds; end None: still firing)."""

    name: str
    start: float
    end: float | None
    labels: dict[str, str]


@dataclass(frozen=True)
class Signals:
    """The answers to FIRING_ALERTS, BREAKER_OPENED, BREAKERS_NOT_CLOSED and HOST_CPU over a run ending at
    `end`; None where Prometheus did not answer (`errors` says why)."""

    end: float
    alerts: Result | None = None
    breaker_opened: Result | None = None
    breakers_not_closed: Result | None = None
    host_cpu: Result | None = None
    """HOST_CPU's answer (analysis.host reads it); None also for records made before it existed."""
    errors: dict[str, str] = field(default_factory=dict)

    def alert_intervals(self) -> list[AlertInterval]:
        return firing_intervals(self.alerts or [], self.end)

    def breaker_trips(self) -> list[float]:
        """Every distinct time (unix) a pod's breaker opened during the run, from the pods' gauge."""
        return sorted({float(v) for series in self.breaker_opened or [] for _, v in series.get("values", [])})

    def breaker_stretches(self) -> list[tuple[str, float, float | None]]:
        """(pod, open from, closed at or None) per stretch a pod's breaker was not closed, as
        Prometheus scraped it (to the scrape interval; `breaker_trips` has the exact openings)."""
        return [
            (labels.get("pod", "?"), start, stop)
            for labels, start, stop in present_intervals(self.breakers_not_closed or [], self.end)
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "end": self.end,
            "queries": {
                "alerts": FIRING_ALERTS,
                "breakerOpened": BREAKER_OPENED,
                "breakersNotClosed": BREAKERS_NOT_CLOSED,
                "hostCpu": HOST_CPU,
            },
            "step": STEP,
            "alerts": self.alerts,
            "breakerOpened": self.breaker_opened,
            "breakersNotClosed": self.breakers_not_closed,
            "hostCpu": self.host_cpu,
            "errors": self.errors,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Signals:
        return cls(
            end=float(data["end"]),
            alerts=data.get("alerts"),
            breaker_opened=data.get("breakerOpened"),
            breakers_not_closed=data.get("breakersNotClosed"),
            host_cpu=data.get("hostCpu"),
            errors={str(k): str(v) for k, v in data.get("errors", {}).items()},
        )


def firing_intervals(result: list[dict[str, Any]], end: float, step: float = STEP) -> list[AlertInterval]:
    """Intervals of each firing alert in a range-query result of FIRING_ALERTS ending at `end`.

    Points more than 1.5 steps apart start a new interval; an interval whose last point is within a
    step of `end` is still firing (end None); otherwise it resolved one step after its last point."""
    intervals = [
        AlertInterval(labels.get("alertname", "?"), start, stop, labels)
        for labels, start, stop in present_intervals(result, end, step)
    ]
    return sorted(intervals, key=lambda a: (a.start, a.name))


def present_intervals(
    result: list[dict[str, Any]], end: float, step: float = STEP
) -> list[tuple[dict[str, str], float, float | None]]:
    """(labels, start, end) of each stretch during which a series of a range-query result had points
    (a filtering query such as `x == 1` has points only while the condition holds); the rules are
    those of `firing_intervals`."""
    out: list[tuple[dict[str, str], float, float | None]] = []
    for series in result:
        labels = {str(k): str(v) for k, v in series.get("metric", {}).items()}
        times = sorted(float(t) for t, _ in series.get("values", []))
        if not times:
            continue
        begin = previous = times[0]
        for t in times[1:]:
            if t - previous > 1.5 * step:
                out.append((labels, begin, previous + step))
                begin = t
            previous = t
        still = end - previous <= step
        out.append((labels, begin, None if still else previous + step))
    return out
