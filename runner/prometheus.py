"""What the runner asks Prometheus: is it up, are its targets up, are rules loaded, what fired, series.

`PrometheusReader` is the seam (tests use a small fake of it); `PrometheusApi` is the real thing on
prometheus-api-client's PrometheusConnect. The client has no call for `/api/v1/rules`, so "rules
loaded" is asked in PromQL from Prometheus' own metrics (`prometheus_rule_group_rules`, rules per
loaded group), which the testbed's Prometheus scrapes from itself like any cluster Prometheus does;
so is how often a group is evaluated (`prometheus_rule_group_interval_seconds`).
The queries whose answers a run record keeps (FIRING_ALERTS, BREAKER_OPENED, BREAKERS_NOT_CLOSED)
are turned into intervals and trips by analysis.signals, on the record alone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException

from analysis.signals import STEP
from chaos.errors import ChaosLabError

log = logging.getLogger(__name__)

RULES_LOADED = "sum(prometheus_rule_group_rules)"
RULE_INTERVAL = "prometheus_rule_group_interval_seconds"
_REGEX_SPECIAL = re.compile(r"[.+*?()|\[\]{}^$\\]")
"""What RE2 (PromQL's regular expressions) reads as syntax; re.escape also escapes "-", which RE2
rejects outside a class."""
REQUEST_TIMEOUT = 10


class PrometheusError(ChaosLabError):
    """Prometheus did not answer a query."""

    hint = "check that the testbed's Prometheus runs (`chaoslab testbed status`)"


@dataclass(frozen=True)
class Target:
    job: str
    instance: str
    health: str
    error: str = ""


class PrometheusReader(Protocol):
    url: str

    def is_up(self) -> bool: ...

    def targets(self) -> list[Target]: ...

    def rules_loaded(self) -> int: ...

    def rule_interval(self, groups: Sequence[str]) -> float | None: ...

    def query_range(
        self, query: str, start: float, end: float, step: float = STEP
    ) -> list[dict[str, Any]]: ...


def rule_interval_query(groups: Sequence[str]) -> str:
    """PromQL for the longest evaluation interval of the rule groups named `groups`."""
    names = "|".join(_REGEX_SPECIAL.sub(r"\\\g<0>", g) for g in groups)
    pattern = f".*;({names})".replace("\\", "\\\\").replace('"', '\\"')  # inside a PromQL string
    return f'max({RULE_INTERVAL}{{rule_group=~"{pattern}"}})'


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

    def rule_interval(self, groups: Sequence[str]) -> float | None:
        """Seconds between evaluations of the rule groups named `groups` (the longest), as
        Prometheus reports them (its `rule_group` label is "FILE;GROUP"); None if it reports none."""
        query = rule_interval_query(groups)
        result = self._call(query, lambda: self._client.custom_query(query))
        return float(result[0]["value"][1]) if result else None

    def firing_alerts(self) -> list[str]:
        """The names of the alerts firing now (Prometheus' ALERTS series)."""
        query = 'ALERTS{alertstate="firing"}'
        result = self._call(query, lambda: self._client.custom_query(query))
        return sorted({str(r["metric"].get("alertname", "?")) for r in result})

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
