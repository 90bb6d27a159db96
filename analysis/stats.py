"""Statistics of predicted against observed: the interval score and distribution comparisons.

- `interval_score`: the proper scoring rule for a central (1 - alpha) prediction interval
  (Gneiting & Raftery 2007, eq. 43): width, plus 2/alpha times how far the observation fell outside.
  Lower is better; a sharp interval that covers beats a wide one, and a miss costs in proportion to
  its distance. Written here because scipy has no interval score; it is one line of arithmetic.
- `compare_distributions`: the observed latencies of a phase against the simulator's latency sketch
  (its quantile function at 101 levels, sim.result.SKETCH_LEVELS). The sketch is turned into an
  evenly spaced sample of the predicted distribution (its quantiles at the midpoints of n equal
  slices), and scipy.stats gives the two-sample Kolmogorov-Smirnov statistic, the Mann-Whitney U
  test and the Wasserstein-1 distance. With tens of thousands of observed requests every p-value is
  tiny for any real difference, so the effect sizes (KS distance, the probability that an observed
  latency exceeds a predicted one, the Wasserstein distance in seconds) are what to read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from sim.result import SKETCH_LEVELS

PREDICTED_SAMPLE = 1000
"""Points of the predicted distribution drawn from its sketch for the two-sample tests."""


def interval_score(observed: float, low: float, high: float, alpha: float = 0.10) -> float:
    """Gneiting & Raftery's interval score of the central (1 - alpha) interval [low, high]."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha} must be between 0 and 1")
    if high < low:
        raise ValueError(f"interval [{low}, {high}] has high < low")
    below = max(low - observed, 0.0)
    above = max(observed - high, 0.0)
    return (high - low) + 2.0 / alpha * (below + above)


def sample_of_sketch(sketch: np.ndarray, n: int = PREDICTED_SAMPLE) -> np.ndarray:
    """n evenly spaced points of the distribution whose quantile function `sketch` is."""
    levels = (np.arange(n) + 0.5) / n
    return np.asarray(np.interp(levels, SKETCH_LEVELS, sketch), dtype=float)


@dataclass(frozen=True)
class DistributionComparison:
    """Observed against predicted latency in one phase (seconds)."""

    observed: int
    ks_statistic: float
    ks_pvalue: float
    mann_whitney_u: float
    mann_whitney_pvalue: float
    prob_observed_slower: float
    """P(an observed latency > a predicted one), the Mann-Whitney effect size (0.5: no shift)."""
    wasserstein: float
    """The Wasserstein-1 (earth mover's) distance, in seconds."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "observed": self.observed,
            "ksStatistic": self.ks_statistic,
            "ksPvalue": self.ks_pvalue,
            "mannWhitneyU": self.mann_whitney_u,
            "mannWhitneyPvalue": self.mann_whitney_pvalue,
            "probObservedSlower": self.prob_observed_slower,
            "wasserstein": self.wasserstein,
        }


def compare_distributions(observed: np.ndarray, sketch: np.ndarray) -> DistributionComparison | None:
    """None when either side has nothing to compare (no successful request, no sketch)."""
    observed = np.asarray(observed, dtype=float)
    if len(observed) < 2 or len(sketch) != len(SKETCH_LEVELS) or not np.isfinite(sketch).all():
        return None
    predicted = sample_of_sketch(np.asarray(sketch, dtype=float))
    ks = stats.ks_2samp(observed, predicted)
    mw = stats.mannwhitneyu(observed, predicted, alternative="two-sided")
    u = float(mw.statistic)
    return DistributionComparison(
        observed=len(observed),
        ks_statistic=float(ks.statistic),
        ks_pvalue=float(ks.pvalue),
        mann_whitney_u=u,
        mann_whitney_pvalue=float(mw.pvalue),
        prob_observed_slower=u / (len(observed) * len(predicted)),
        wasserstein=float(stats.wasserstein_distance(observed, predicted)),
    )


def relative_error(observed: float, predicted: float) -> float | None:
    """(observed - predicted) / |predicted|; None when the prediction is zero."""
    if predicted == 0 or not math.isfinite(predicted):
        return None
    return (observed - predicted) / abs(predicted)
