"""Which alerts the replications fired, and when: the alert part of a forecast. Pure.

Prometheus' rule engine (sim/promtool.py) says, for every replication and every evaluation of the
rules, which alerts were firing. `AlertPrediction` holds those firing times and summarises them per
alert, over the replications, from the start of the first fault (`since`) to the end of the run:
the probability that the alert fires (the share of replications in which it was firing at some
evaluation at or after `since`), its first-fire time (seconds from `since`; undefined where it did
not fire) and how long it fired (seconds, evaluations firing x the evaluation interval; 0 where it
did not fire), each an estimate with a 90 % prediction interval (sim.montecarlo.estimate).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.alert_series import RENDERED
from sim.forecast_summary import AlertEvaluation, AlertSummary
from sim.interval import NON_NEGATIVE
from sim.montecarlo import Estimate, estimate

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_METRICS = re.compile(r"\b(?:mlservice_[a-z0-9_]+|kube_[a-z0-9_]+|up)\b")


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule of a rules file."""

    name: str
    expr: str

    @property
    def metrics(self) -> frozenset[str]:
        """The metrics its expression reads: the service's (mlservice_*), kube-state-metrics'
        (kube_*) and Prometheus' `up` (the only ones the rules of this project use)."""
        return frozenset(_METRICS.findall(_STRINGS.sub('""', self.expr)))

    @property
    def missing(self) -> frozenset[str]:
        """The metrics it reads that not every replication is rendered into."""
        return self.missing_from(RENDERED)

    def missing_from(self, rendered: frozenset[str]) -> frozenset[str]:
        """The metrics it reads that are not among `rendered`."""
        return self.metrics - rendered


def alert_rules(groups: Sequence[Mapping[str, Any]]) -> tuple[AlertRule, ...]:
    """The alerting rules of Prometheus rule groups (recording rules left out)."""
    return tuple(
        AlertRule(str(rule["alert"]), str(rule.get("expr", "")))
        for group in groups
        for rule in group.get("rules", [])
        if isinstance(rule, Mapping) and "alert" in rule
    )


Firing = Mapping[str, Sequence[float]]
"""One replication: alert name -> the evaluation times (s from the run's start) it was firing at."""


@dataclass(frozen=True)
class AlertPrediction:
    """The firing alerts of every replication, as the rules in `rules` (read from `source`) said,
    evaluated every `evaluation` seconds on series scraped every `scrape` seconds."""

    source: str
    rules: tuple[AlertRule, ...]
    since: float
    scrape: float
    evaluation: float
    firing: tuple[Firing, ...]
    rendered: frozenset[str] = RENDERED
    """The metrics the replications were rendered into (sim.alert_series.rendered)."""

    def settings(self) -> AlertEvaluation:
        return AlertEvaluation(self.source, self.scrape, self.evaluation, self.since)

    def rule(self, name: str) -> AlertRule | None:
        return next((r for r in self.rules if r.name == name), None)

    def not_predicted(self, name: str) -> str:
        """Why `name` has no prediction ("" when it has one)."""
        rule = self.rule(name)
        if rule is None:
            return f"not predicted: no alerting rule {name} in the rules"
        missing = rule.missing_from(self.rendered)
        if missing:
            return f"not predicted: the simulator does not model {', '.join(sorted(missing))}"
        return ""

    def first_fire(self, name: str) -> np.ndarray:
        """Per replication, seconds from `since` to the first evaluation firing `name` (NaN: none)."""
        out = np.full(len(self.firing), math.nan)
        for i, firing in enumerate(self.firing):
            later = [t for t in firing.get(name, ()) if t >= self.since]
            if later:
                out[i] = min(later) - self.since
        return out

    def duration(self, name: str) -> np.ndarray:
        """Per replication, seconds `name` fired from `since` on (0: it did not fire)."""
        return np.array(
            [sum(1 for t in f.get(name, ()) if t >= self.since) * self.evaluation for f in self.firing],
            dtype=float,
        )

    def probability(self, names: Sequence[str]) -> float | None:
        """Share of replications in which every alert of `names` fired at or after `since`; None if
        one of them is not predicted."""
        if any(self.not_predicted(n) for n in names) or not self.firing:
            return None
        return float(np.mean(np.isfinite(self.all_fired(names))))

    def all_fired(self, names: Sequence[str]) -> np.ndarray:
        """Per replication, seconds from `since` until every alert of `names` had fired (NaN: not all)."""
        if not names:
            return np.zeros(len(self.firing))
        last: np.ndarray = np.max(np.vstack([self.first_fire(n) for n in names]), axis=0)
        return last

    def summaries(self) -> tuple[AlertSummary, ...]:
        """Per alerting rule, in the rules' order: probability, first fire and duration."""
        out = []
        for rule in self.rules:
            note = self.not_predicted(rule.name)
            if note:
                out.append(AlertSummary(rule.name, None, None, None, note))
                continue
            first = self.first_fire(rule.name)
            out.append(
                AlertSummary(
                    name=rule.name,
                    probability=float(np.mean(np.isfinite(first))) if len(first) else None,
                    first_fire=estimate(first, bounds=NON_NEGATIVE),
                    duration=estimate(self.duration(rule.name), bounds=NON_NEGATIVE),
                )
            )
        return tuple(out)

    def time_to_all(self, names: Sequence[str]) -> Estimate:
        return estimate(self.all_fired(names), bounds=NON_NEGATIVE)
