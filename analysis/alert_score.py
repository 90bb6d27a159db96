"""Predicted alerts against the alerts the run observed.

Per alert the forecast predicted (sim.alerts: the probability it fires after the first fault began,
the seconds until it first does, how long it fires), the run's own ALERTS series (signals.json) say
whether and when it fired, counted the same way: from the first fault's start, an alert already
firing then counts from 0 s. Each gets:

- the Brier score of the probability, (p - fired)^2: the proper scoring rule for a yes/no forecast;
- a grade: predicted to fire (p >= 0.5) and fired: the first-fire time graded like a metric
  (analysis.tolerances.grade, tolerance FIRST_FIRE: the rules' evaluation step and a scrape are in
  it); predicted not to fire and it did not: Pass; otherwise Fail when the forecast was confident
  (p <= 0.1 or p >= 0.9), else Marginal.

Alerts a success criterion names are critical, as metrics are (analysis.score).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analysis.signals import AlertInterval
from analysis.tolerances import CRITICAL_WEIGHT, WEIGHT, Grade, Tolerance, grade
from sim.forecast_summary import AlertSummary
from sim.montecarlo import Estimate

FIRST_FIRE = Tolerance(10.0, 0.20)
"""First-fire time: 20 % of the prediction, at least 10 s (two of the forecast's 5 s evaluations)."""
CONFIDENT = 0.1


@dataclass(frozen=True)
class AlertScore:
    name: str
    probability: float
    fired: bool
    predicted_first: Estimate | None
    observed_first: float | None
    """Seconds from the first fault's start to its first firing (None: it did not fire)."""
    observed_duration: float
    grade: Grade
    critical: bool

    @property
    def brier(self) -> float:
        return (self.probability - (1.0 if self.fired else 0.0)) ** 2

    @property
    def weight(self) -> float:
        return CRITICAL_WEIGHT if self.critical else WEIGHT

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "probability": self.probability,
            "fired": self.fired,
            "predictedFirstFire": self.predicted_first.to_dict() if self.predicted_first else None,
            "observedFirstFire": self.observed_first,
            "observedDuration": self.observed_duration,
            "brier": self.brier,
            "grade": str(self.grade),
            "critical": self.critical,
        }


def observed_firing(
    intervals: Sequence[AlertInterval], name: str, since: float, end: float
) -> tuple[float | None, float]:
    """(seconds from `since` to the first firing at or after it, seconds firing in [since, end])."""
    spans = sorted(
        (max(a.start, since), min(a.end if a.end is not None else end, end))
        for a in intervals
        if a.name == name and (a.end is None or a.end > since)
    )
    spans = [(s, e) for s, e in spans if e > s]
    if not spans:
        return None, 0.0
    total, reach = 0.0, -math.inf
    for s, e in spans:  # the union: several series of one alert overlap
        if e > reach:
            total += e - max(s, reach)
            reach = e
    return spans[0][0] - since, total


def score_alerts(
    predicted: Sequence[AlertSummary],
    intervals: Sequence[AlertInterval],
    since: float | None,
    end: float | None,
    critical: set[str],
) -> list[AlertScore]:
    """Every alert the forecast gave a probability; nothing when no fault was injected."""
    if since is None or end is None:
        return []
    out = []
    for alert in predicted:
        if alert.probability is None:
            continue
        first, duration = observed_firing(intervals, alert.name, since, end)
        fired = first is not None
        out.append(
            AlertScore(
                alert.name,
                alert.probability,
                fired,
                alert.first_fire,
                first,
                duration,
                _grade(alert, first),
                alert.name in critical,
            )
        )
    return out


def _grade(alert: AlertSummary, first: float | None) -> Grade:
    p = alert.probability
    assert p is not None
    expected = p >= 0.5
    if expected and first is not None:
        if alert.first_fire is None:
            return Grade.PASS
        return grade(first, alert.first_fire, FIRST_FIRE) or Grade.PASS
    if not expected and first is None:
        return Grade.PASS
    return Grade.FAIL if p <= CONFIDENT or p >= 1 - CONFIDENT else Grade.MARGINAL
