"""How well calibrated the predictor is over many runs: per metric, how often the observed value fell
inside its 90 % prediction interval, how wide the intervals were, and how far off the points were.

A 90 % interval that is right covers about 90 % of runs; one that covers 100 % with a width of half
the scale is not a good prediction either, which the mean width and the mean interval score show
beside the coverage. Pure: score cards in, rows out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "phase": self.phase,
            "runs": self.runs,
            "covered": self.covered,
            "coverage": self.coverage,
            "meanWidth": self.mean_width,
            "meanAbsError": self.mean_abs_error,
            "meanRelativeError": self.mean_relative_error,
            "meanIntervalScore": self.mean_interval_score,
            "passes": self.passes,
        }


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
