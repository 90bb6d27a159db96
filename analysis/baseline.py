"""What calibration reads from a run: the baseline's requests and Prometheus quantiles, by second.

`Baseline.of(data)` takes the requests sent in the baseline phase (successful ones' latency, as
`latency_pXX` counts them) and, from the spec's recorded `metrics`, every `histogram_quantile(q, ...)`
over the pods' request-duration or feature-store histograms (service/metrics.py): their points
inside the baseline, once the query's rate window lies wholly inside it. Everything is kept per
whole second from the run's origin, so that `Baseline.resample` can draw seconds (in blocks) and
carry the requests and the Prometheus points of the same seconds together.

`histogram_quantile` is Prometheus' estimate from cumulative bucket counts (linear inside the bucket
that holds the rank; the highest finite bound when the rank falls in +Inf), used to put a simulated
latency on the same footing as a recorded one: with the service's 25 ms wide request buckets the
estimate is off the true quantile by several milliseconds, but it is off the same way for both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.record import RunData
from chaos.durations import parse_duration
from chaos.errors import ChaosLabError
from service.metrics import PREFIX, REQUEST_BUCKETS, STORE_BUCKETS

REQUEST_HISTOGRAM = f"{PREFIX}_request_duration_seconds_bucket"
STORE_HISTOGRAM = f"{PREFIX}_feature_store_duration_seconds_bucket"
BUCKETS = {REQUEST_HISTOGRAM: REQUEST_BUCKETS, STORE_HISTOGRAM: STORE_BUCKETS}
_QUANTILE = re.compile(r"histogram_quantile\(\s*([0-9.eE+-]+)\s*,")
_WINDOW = re.compile(r"\[([0-9a-zµ.]+)\]")


class CalibrationInputError(ChaosLabError):
    """The run record has no baseline to calibrate on."""

    hint = "calibrate on a run whose baseline phase ran with load (`chaoslab run` records it)"


@dataclass(frozen=True)
class QuantileSeries:
    """One recorded histogram_quantile: its level, and its values at whole seconds of the baseline."""

    name: str
    histogram: str
    level: float
    seconds: np.ndarray
    values: np.ndarray

    @property
    def buckets(self) -> tuple[float, ...]:
        return BUCKETS[self.histogram]

    def pick(self, seconds: np.ndarray) -> QuantileSeries:
        """The points at `seconds` (with repeats), as a resample takes them."""
        index = {int(s): i for i, s in enumerate(self.seconds)}
        rows = [index[int(s)] for s in seconds if int(s) in index]
        chosen = np.asarray(rows, dtype=int)
        return QuantileSeries(
            self.name, self.histogram, self.level, self.seconds[chosen], self.values[chosen]
        )

    def value(self) -> float | None:
        """The series' level over the baseline: the median of its points (None without any)."""
        return float(np.median(self.values)) if len(self.values) else None


@dataclass(frozen=True)
class Baseline:
    """The baseline of one run: successful requests' latency with the second each was sent in."""

    duration: float
    seconds: np.ndarray
    latency: np.ndarray
    requests: int
    series: tuple[QuantileSeries, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, data: RunData) -> Baseline:
        origin = data.origin
        if origin is None:
            raise CalibrationInputError("the run has no origin (its load never started)")
        duration = float(data.experiment.phases.baseline)
        sent = [(r.time - origin, r) for r in data.records if 0 <= r.time - origin < duration]
        ok = [(t, r.latency) for t, r in sent if r.outcome != "error"]
        if len(ok) < 100:
            raise CalibrationInputError(
                f"the baseline has {len(ok)} successful requests; calibration needs at least 100"
            )
        seconds = np.array([math.floor(t) for t, _ in ok], dtype=int)
        latency = np.array([lat for _, lat in ok], dtype=float)
        series = tuple(
            s for s in (_series(name, raw, origin, duration) for name, raw in data.series.items()) if s
        )
        return cls(duration, seconds, latency, len(sent), series)

    def quantiles(self, histogram: str) -> list[QuantileSeries]:
        return [s for s in self.series if s.histogram == histogram and len(s.values)]

    def resample(self, rng: np.random.Generator, block: float) -> Baseline:
        """A moving-block bootstrap resample: whole seconds drawn in runs of `block` seconds."""
        size = max(1, math.ceil(self.duration))
        length = max(1, min(size, round(block)))
        starts = rng.integers(0, size - length + 1, size=math.ceil(size / length))
        chosen = (starts[:, None] + np.arange(length)[None, :]).ravel()[:size]
        order = np.argsort(self.seconds, kind="stable")
        ordered = self.seconds[order]
        lo = np.searchsorted(ordered, chosen, side="left")
        hi = np.searchsorted(ordered, chosen, side="right")
        rows = np.concatenate([order[a:b] for a, b in zip(lo, hi, strict=True)])
        return Baseline(
            self.duration,
            self.seconds[rows],
            self.latency[rows],
            len(rows),
            tuple(s.pick(chosen) for s in self.series),
        )


def _series(name: str, raw: Any, origin: float, duration: float) -> QuantileSeries | None:
    """A recorded histogram_quantile over one of the service's histograms, inside the baseline."""
    if not isinstance(raw, dict):
        return None
    query = str(raw.get("query", ""))
    histogram = next((h for h in BUCKETS if h in query), None)
    level = _QUANTILE.search(query)
    if histogram is None or level is None:
        return None
    window = _WINDOW.search(query)
    try:
        first = parse_duration(window.group(1)) if window else 0.0
    except ValueError:
        first = 0.0
    points: dict[int, list[float]] = {}
    for result in raw.get("result") or []:
        for t, v in result.get("values", []) if isinstance(result, dict) else []:
            offset, value = float(t) - origin, float(v)
            if first <= offset < duration and math.isfinite(value):
                points.setdefault(math.floor(offset), []).append(value)
    seconds = np.array(sorted(points), dtype=int)
    values = np.array([float(np.median(points[s])) for s in sorted(points)], dtype=float)
    return QuantileSeries(name, histogram, float(level.group(1)), seconds, values)


def histogram_quantile(level: float, bounds: Sequence[float], cumulative: Sequence[float]) -> float:
    """Prometheus' histogram_quantile from the cumulative counts at each finite upper bound (the +Inf
    bucket's count is the last entry of `cumulative`, one longer than `bounds`)."""
    total = cumulative[-1]
    if total <= 0:
        return math.nan
    rank = level * total
    below, lower = 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=False):
        if count >= rank:
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        below, lower = count, bound
    return float(bounds[-1])


def sample_histogram_quantile(level: float, bounds: Sequence[float], values: np.ndarray) -> float:
    """histogram_quantile of a sample, bucketed as the service's histogram would count it."""
    counts = np.searchsorted(np.sort(values), np.asarray(bounds), side="right").astype(float)
    return histogram_quantile(level, bounds, [*counts.tolist(), float(len(values))])


def cdf_histogram_quantile(level: float, bounds: Sequence[float], cdf: Callable[[np.ndarray], Any]) -> float:
    """histogram_quantile of a distribution (its expected bucket shares, from its CDF)."""
    shares = np.asarray(cdf(np.asarray(bounds, dtype=float)), dtype=float)
    return histogram_quantile(level, bounds, [*shares.tolist(), 1.0])
