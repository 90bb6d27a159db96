"""How close a prediction must come to count: per-metric tolerances and the Pass / Marginal / Fail grade.

A prediction of one metric in one phase is a point and a 90 % prediction interval; the run shows one
value. The grade answers "did the claim hold, and was it worth making":

- **Pass**: the observed value lies inside the predicted interval and either the interval is sharp
  (no wider than two tolerances) or the point is within one tolerance of what was observed.
- **Marginal**: inside a wide interval with the point off by more than a tolerance; or outside the
  interval with the point within two tolerances (the claim missed, but not by much: typical of a
  narrow interval around a nearly right value).
- **Fail**: outside the interval, and the point off by more than two tolerances.

So an observation inside its interval always grades at least as well as one outside it, and a wide
interval that covers everything cannot earn a Pass unless its point is also close.

Tolerances follow the project's accuracy targets (benchmarks/prediction_accuracy.py): availability
within 0.5 percentage points, latency quantiles within 10 %, the breaker's first trip within 0.5 s,
recovery time within 20 %. A relative tolerance has an absolute floor so that a near-zero prediction
is not held to a near-zero tolerance (a 1 s recovery cannot be judged closer than the 1 s samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from sim.montecarlo import Estimate


class Grade(StrEnum):
    PASS = "pass"
    MARGINAL = "marginal"
    FAIL = "fail"

    @property
    def credit(self) -> float:
        """What the grade counts for in a score: 1, 0.5 or 0."""
        return {Grade.PASS: 1.0, Grade.MARGINAL: 0.5, Grade.FAIL: 0.0}[self]


@dataclass(frozen=True)
class Tolerance:
    """`absolute` in the metric's unit, `relative` as a share of the predicted point; the
    tolerance is the larger of the two (a relative one never below `absolute`)."""

    absolute: float
    relative: float = 0.0

    def __post_init__(self) -> None:
        if self.absolute < 0 or self.relative < 0:
            raise ValueError(f"tolerance absolute={self.absolute}, relative={self.relative} must be >= 0")

    def at(self, predicted: float) -> float:
        return max(self.absolute, self.relative * abs(predicted))

    def describe(self, unit: str) -> str:
        if self.relative:
            return f"{self.relative:.0%} (at least {self.absolute:g} {unit})"
        return f"{self.absolute:g} {unit}"


CRITICAL_WEIGHT = 3.0
"""What a critical prediction (one the experiment's criteria or blanks name) weighs in a score."""
WEIGHT = 1.0

TOLERANCES: dict[str, Tolerance] = {
    "availability": Tolerance(0.005),
    "error_rate": Tolerance(0.005),
    "cache_share": Tolerance(0.02),
    "fallback_share": Tolerance(0.02),
    "wrong_rate": Tolerance(0.01),
    "latency_p50": Tolerance(0.002, 0.10),
    "latency_p95": Tolerance(0.002, 0.10),
    "latency_p99": Tolerance(0.002, 0.10),
    "throughput": Tolerance(1.0, 0.05),
    "ready_pods_min": Tolerance(0.5),
    "breaker_first_trip": Tolerance(0.5),
    "recovery_time": Tolerance(1.0, 0.20),
}
"""Per metric (units: fractions, seconds, requests per second, pods)."""


def grade(observed: float, predicted: Estimate, tolerance: Tolerance) -> Grade | None:
    """The grade of a prediction against what was observed; None when there is nothing to grade."""
    point, low, high = predicted.point, predicted.low, predicted.high
    if point is None or low is None or high is None or not math.isfinite(observed):
        return None
    tol = tolerance.at(point)
    error = abs(observed - point)
    if low <= observed <= high:
        sharp = high - low <= 2 * tol
        return Grade.PASS if sharp or error <= tol else Grade.MARGINAL
    return Grade.MARGINAL if error <= 2 * tol else Grade.FAIL
