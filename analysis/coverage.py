"""How well calibrated the predictor is over many runs: per metric, how often the observed value fell
inside its 90 % prediction interval, how wide the intervals were, and how far off the points were.

A 90 % interval that is right covers about 90 % of runs; one that covers 100 % with a width of half
the scale is not a good prediction either, which the mean width and the mean interval score show
beside the coverage. Pure: score cards in, rows out.

A coverage counted from a few runs is itself uncertain, and the project's claim (intervals that
hold 90 % of the time) is checked against it, so each figure carries its own 90 % interval: per
metric, a Wilson interval (analysis.observed's; one value per run, runs independent); pooled over
every metric of the runs, a bootstrap that resamples whole runs (scipy.stats.bootstrap, paired),
because the values of one run are not independent: one slow machine moves all its latency figures
together, so counting them as separate draws would make the pooled figure look surer than it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from analysis.observed import BOOTSTRAP_RESAMPLES, wilson_interval
from analysis.score import MetricScore, ScoreCard
from analysis.tolerances import Grade


@dataclass(frozen=True)
class CoverageRow:
    metric: str
    phase: str | None
    runs: int
    covered: int
    mean_width: float
    mean_abs_error: float
    mean_relative_error: float | None
    mean_interval_score: float
    passes: int

    @property
    def coverage(self) -> float:
        return self.covered / self.runs

    @property
    def coverage_interval(self) -> tuple[float, float]:
        """LEVEL Wilson interval of the coverage."""
        interval = wilson_interval(self.covered, self.runs, LEVEL)
        assert interval is not None, "a coverage row has at least one run"
        return interval

    def to_dict(self) -> dict[str, Any]:
        low, high = self.coverage_interval
        return {
            "metric": self.metric,
            "phase": self.phase,
            "runs": self.runs,
            "covered": self.covered,
            "coverage": self.coverage,
            "coverageInterval": [low, high],
            "meanWidth": self.mean_width,
            "meanAbsError": self.mean_abs_error,
            "meanRelativeError": self.mean_relative_error,
            "meanIntervalScore": self.mean_interval_score,
            "passes": self.passes,
        }


LEVEL = 0.90
"""Confidence level of a coverage's own interval."""


@dataclass(frozen=True)
class PooledCoverage:
    """Every scored value of the runs together: how many fell inside their interval, with a LEVEL
    interval from resampling whole runs (None with fewer than two runs, or when every run had the
    same share: resampling them shows no spread)."""

    runs: int
    covered: int
    values: int
    low: float | None
    high: float | None

    @property
    def coverage(self) -> float:
        return self.covered / self.values if self.values else math.nan


def pooled_coverage(cards: Sequence[ScoreCard], with_width: bool = False, seed: int = 0) -> PooledCoverage:
    """Coverage over every scored value of `cards` (with `with_width`, only values whose interval
    has a width: a zero-width interval is every replication agreeing, which says little about the
    interval's construction)."""
    inside, totals = [], []
    for card in cards:
        scores = [m for m in card.metrics if not with_width or m.width > 0]
        if scores:
            inside.append(sum(1 for m in scores if m.inside))
            totals.append(len(scores))
    covered, values = sum(inside), sum(totals)
    low = high = None
    shares = {i / t for i, t in zip(inside, totals, strict=True)}
    if len(totals) >= 2 and len(shares) > 1:
        result = stats.bootstrap(
            (np.array(inside, dtype=float), np.array(totals, dtype=float)),
            lambda i, t: np.sum(i) / np.sum(t),
            paired=True,
            vectorized=False,
            confidence_level=LEVEL,
            n_resamples=BOOTSTRAP_RESAMPLES,
            method="percentile",
            random_state=np.random.default_rng(seed),
        )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return PooledCoverage(len(totals), covered, values, low, high)


def coverage(cards: Sequence[ScoreCard]) -> list[CoverageRow]:
    """One row per (metric, phase) scored in any of the runs, in the order first seen."""
    groups: dict[tuple[str, str | None], list[MetricScore]] = {}
    for card in cards:
        for m in card.metrics:
            groups.setdefault((m.metric, m.phase), []).append(m)
    return [_row(metric, phase, scores) for (metric, phase), scores in groups.items()]


def _row(metric: str, phase: str | None, scores: list[MetricScore]) -> CoverageRow:
    n = len(scores)
    relative = [abs(s.relative_error) for s in scores if s.relative_error is not None]
    return CoverageRow(
        metric=metric,
        phase=phase,
        runs=n,
        covered=sum(1 for s in scores if s.inside),
        mean_width=math.fsum(s.width for s in scores) / n,
        mean_abs_error=math.fsum(abs(s.error) for s in scores) / n,
        mean_relative_error=math.fsum(relative) / len(relative) if relative else None,
        mean_interval_score=math.fsum(s.interval_score for s in scores) / n,
        passes=sum(1 for s in scores if s.grade == Grade.PASS),
    )
