"""Abort conditions watched on the live request stream, one whole second at a time.

Pure: the runner feeds it the records the load has released (in time order) and the ready-pod
counts it samples, then asks it to close every second that is complete. For each closed second
from `active_from` on, each condition's metric is computed over the requests sent in that second
(analysis.observed.point_metrics: the same definitions as the run's observed metrics) and compared
with its threshold; the condition is violated in that second when `value op threshold` holds.
It fires once it has been violated in `sustained` consecutive seconds (its `for:`; 0 fires on the
first violated second). A second without requests (or without a ready-pod sample, for
`ready_pods_min`) breaks the run of violations: there is no evidence either way.

Seconds close only when no record of them can still arrive, so the watch lags the wall clock by the
load's settle time (client timeout plus the recorder's flush slack); the runner passes that lag in.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from analysis.observed import RequestRecord, point_metrics
from chaos.spec import AbortCondition, compare

LIVE_WINDOW = 5
"""Seconds summarised for the live display (availability and p95 of the last closed seconds)."""


@dataclass(frozen=True)
class AbortTrigger:
    """An abort condition that held long enough: since when (first violated second) and when it fired."""

    condition: AbortCondition
    since: float
    at: float
    value: float

    def describe(self) -> str:
        c = self.condition
        return (
            f"{c.name}: {c.metric} {c.op} {c.threshold:g} for {self.at - self.since:g} s "
            f"(last value {self.value:.4g}, from {self.since:g} s to {self.at:g} s into the run)"
        )


class AbortWatch:
    """Evaluates abort conditions second by second; times are seconds from the run's origin."""

    def __init__(
        self, conditions: tuple[AbortCondition, ...], origin: float, active_from: float = 0.0
    ) -> None:
        self.conditions = conditions
        self.origin = origin
        self.active_from = active_from
        self.closed = 0  # seconds [0, closed) are closed
        self._records: dict[int, list[RequestRecord]] = defaultdict(list)
        self._ready: dict[int, int] = {}
        self._violated_since: dict[str, int | None] = {c.name: None for c in conditions}
        self._recent: list[list[RequestRecord]] = []

    def add(self, records: Iterable[RequestRecord]) -> None:
        for r in records:
            second = math.floor(r.time - self.origin)
            if second >= self.closed:
                self._records[second].append(r)

    def add_ready(self, when: float, ready: int) -> None:
        """A ready-pod sample at unix time `when` (the fewest per second counts)."""
        second = math.floor(when - self.origin)
        if second >= self.closed:
            self._ready[second] = min(ready, self._ready.get(second, ready))

    def advance(self, complete_until: float) -> AbortTrigger | None:
        """Close every second that ends by unix time `complete_until`; the first condition to fire."""
        last = math.floor(complete_until - self.origin)
        fired: AbortTrigger | None = None
        while self.closed < last:
            second = self.closed
            records = self._records.pop(second, [])
            ready = self._ready.pop(second, None)
            self._recent = [*self._recent[-(LIVE_WINDOW - 1) :], records]
            self.closed += 1
            if second < self.active_from or fired is not None:
                continue
            fired = self._evaluate(second, records, ready)
        return fired

    def _evaluate(self, second: int, records: list[RequestRecord], ready: int | None) -> AbortTrigger | None:
        values = point_metrics(records, 1.0) if records else {}
        values["ready_pods_min"] = None if ready is None else float(ready)
        for c in self.conditions:
            value = values.get(c.metric)
            if value is None or not compare(value, c.op, c.threshold):
                self._violated_since[c.name] = None
                continue
            since = self._violated_since[c.name]
            if since is None:
                since = self._violated_since[c.name] = second
            if second + 1 - since >= c.sustained:
                return AbortTrigger(c, float(since), float(second + 1), value)
        return None

    def live(self) -> dict[str, float | None]:
        """Metrics of the last LIVE_WINDOW closed seconds (for progress displays)."""
        records = [r for bucket in self._recent for r in bucket]
        return point_metrics(records, float(max(len(self._recent), 1)))
