"""A 90 % prediction interval for the next value, from the values of R replications.

The claim a prediction makes is about the next run: one more draw from the distribution the
replications are draws of. The 5th to 95th percentile of R values is not such an interval for small
R: it estimates the 90 % range of the distribution, and a new draw falls inside the sample's own
interpolated percentiles less often (with R = 10, numpy's 5th-95th percentiles cover a next draw of
a continuous distribution about 74 % of the time, whatever the distribution: (9.55 - 1.45) / 11).

Two constructions, by how many values there are:

- R >= 19: distribution-free, from order statistics. If the R values and the next one are
  exchangeable, the next one is equally likely to take each of the R + 1 ranks, so
  [x(k), x(R + 1 - k)] (1-based, sorted) holds it with probability (R + 1 - 2k) / (R + 1); the
  largest k with that >= 90 % is floor(0.05 (R + 1)). R = 19 gives [min, max] at exactly 90 %.
- R < 19: no order-statistic interval reaches 90 % ([min, max] holds (R - 1) / (R + 1)), so the
  normal-theory prediction interval for one future observation: mean +/- t(0.95, R - 1) s
  sqrt(1 + 1 / R), s the sample standard deviation (Student's t from scipy.stats). It assumes the
  values are roughly normal; it is clipped to the metric's domain (a share stays in [0, 1], a time
  at or above 0), as the next value can be nowhere else.

One value, or values all equal, give a zero-width interval: the replications show no spread, and
nothing here invents one.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

LEVEL = 0.90
"""Probability that the next value falls inside the interval."""

Bounds = tuple[float, float]
UNBOUNDED: Bounds = (-math.inf, math.inf)
SHARE: Bounds = (0.0, 1.0)
NON_NEGATIVE: Bounds = (0.0, math.inf)


def rank(count: int) -> int:
    """k of the order-statistic interval [x(k), x(count + 1 - k)] for `count` values (0: none
    reaches LEVEL)."""
    return math.floor((1.0 - LEVEL) / 2.0 * (count + 1) + 1e-9)


def coverage(count: int) -> float:
    """What the order-statistic interval of `count` values holds of a next one ([min, max] when no
    interval reaches LEVEL)."""
    k = max(rank(count), 1)
    return (count + 1 - 2 * k) / (count + 1)


def prediction_interval(values: np.ndarray, bounds: Bounds = UNBOUNDED) -> tuple[float, float]:
    """The LEVEL prediction interval for the next of these (finite, at least one) values."""
    xs = np.sort(np.asarray(values, dtype=float))
    n = len(xs)
    if n == 0:
        raise ValueError("values must hold at least one value")
    k = rank(n)
    if k >= 1:
        return float(xs[k - 1]), float(xs[n - k])
    if n == 1 or xs[0] == xs[-1]:
        return float(xs[0]), float(xs[-1])
    mean = float(np.mean(xs))
    half = float(stats.t.ppf(0.5 + LEVEL / 2.0, n - 1)) * float(np.std(xs, ddof=1)) * math.sqrt(1.0 + 1.0 / n)
    low, high = bounds
    return max(mean - half, low), min(mean + half, high)
