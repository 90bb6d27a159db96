"""What the runner asks Prometheus: is it up, are its targets up, are rules loaded, what fired, series.

`PrometheusReader` is the seam (tests use a small fake of it); `PrometheusApi` is the real thing on
prometheus-api-client's PrometheusConnect. The client has no call for `/api/v1/rules`, so "rules
loaded" is asked in PromQL from Prometheus' own metrics (`prometheus_rule_group_rules`, rules per
loaded group), which the testbed's Prometheus scrapes from itself like any cluster Prometheus does.
`firing_intervals` turns a range query of ALERTS{alertstate="firing"} into per-alert intervals;
`present_intervals` does the same for any filtering query (the breakers that are not closed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException

from chaos.errors import ChaosLabError

log = logging.getLogger(__name__)

FIRING_ALERTS = 'ALERTS{alertstate="firing"}'
BREAKERS_NOT_CLOSED = 'max by (pod) (mlservice_circuit_breaker_state{state!="closed"}) == 1'
"""Per pod, present while its feature-store circuit breaker is open or half-open."""
BREAKER_OPENED = "mlservice_circuit_breaker_opened_timestamp_seconds > 0"
"""Per pod, the unix time its breaker last opened (each opening stays at least `resetTimeout`)."""
RULES_LOADED = "sum(prometheus_rule_group_rules)"
REQUEST_TIMEOUT = 10
STEP = 1.0
"""Seconds between points of the range queries (the testbed scrapes and evaluates every second)."""


class PrometheusError(ChaosLabError):
    """Prometheus did not answer a query."""

    hint = "check that the testbed's Prometheus runs (`chaoslab testbed status`)"


@dataclass(frozen=True)
class Target:
    job: str
    instance: str
    health: str
    error: str = ""


@dataclass(frozen=True)
class AlertInterval:
    """One stretch during which an alert was firing (unix seconds; end None: still firing)."""

    name: str
    start: float
    end: float | None
    labels: dict[str, str]


class PrometheusReader(Protocol):
    url: str

    def is_up(self) -> bool: ...

    def targets(self) -> list[Target]: ...

    def rules_loaded(self) -> int: ...

    def query_range(
        self, query: str, start: float, end: float, step: float = STEP
    ) -> list[dict[str, Any]]: ...


class PrometheusApi:
    """PrometheusReader over prometheus-api-client."""

    def __init__(self, url: str, timeout: int = REQUEST_TIMEOUT) -> None:
        self.url = url
        self._client = PrometheusConnect(url=url, disable_ssl=True, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def is_up(self) -> bool:
        try:
            return bool(self._client.check_prometheus_connection())
        except OSError:  # requests' errors are OSErrors
            return False

    def targets(self) -> list[Target]:
        data = self._call("targets", lambda: self._client.get_targets(state="active"))
        return [
            Target(
                job=str(t.get("labels", {}).get("job", t.get("scrapePool", "?"))),
                instance=str(t.get("labels", {}).get("instance", t.get("scrapeUrl", "?"))),
                health=str(t.get("health", "unknown")),
                error=str(t.get("lastError", "")),
            )
            for t in data.get("activeTargets", [])
        ]

    def rules_loaded(self) -> int:
        result = self._call(RULES_LOADED, lambda: self._client.custom_query(RULES_LOADED))
        return int(float(result[0]["value"][1])) if result else 0

    def query_range(self, query: str, start: float, end: float, step: float = STEP) -> list[dict[str, Any]]:
        begin, finish = (datetime.fromtimestamp(t, tz=UTC) for t in (start, end))
        result: list[dict[str, Any]] = self._call(
            query, lambda: self._client.custom_query_range(query, begin, finish, step=f"{step:g}s")
        )
        return result

    def _call(self, what: str, call: Any) -> Any:
        try:
            return call()
        except (OSError, PrometheusApiClientException, ValueError, KeyError) as exc:
            raise PrometheusError(f"{self.url}: {what}: {exc}") from exc


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
