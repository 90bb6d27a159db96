"""Observed metrics of a run: what the request records and the pod samples say, per phase and second.

Pure: takes records, pod samples and the run's timeline, returns data. The definitions match the
simulator's (sim/result.py, chaos/recovery.py) so that a prediction and an observation about
`latency_p95` in phase `chaos` are about the same thing:

- a request belongs to the phase and the second it started in (times are seconds from the run's
  origin, the moment the load's first phase began);
- `availability` = successful requests / requests (success: any answer that is not an error, degraded
  answers included); `error_rate` = 1 - availability;
- `latency_pXX`: numpy's linear-interpolation quantile of the latency of successful requests
  (per second: the nearest rank, as the simulator's series);
- `cache_share`: successful answers built from cached features / requests; `fallback_share`:
  successful answers served through any fallback (cached or default features, fallback model) /
  requests; `wrong_rate`: wrong answers / successful answers whose correctness is known;
- `throughput`: successful requests per second of phase; `ready_pods_min`: fewest ready pods sampled;
- `recovery_time`: chaos.recovery.recovery_time on the observed per-second series and ready-pod steps;
- `breaker_first_trip`: seconds from the fault's start until the first circuit breaker opened, from
  the pods' own record of when their breaker opened (`breaker_trips`, unix times, read from
  Prometheus), as the simulator times it. Without that record: until the first answer reporting an
  open breaker (`fallback_reason` breaker_open) was received, which runs later than the trip by about
  one service time. `breaker_trip_source` says which ("pods", "answers", or "" when none).

Intervals (90 % by default): availability and the other shares get a Wilson score interval
(scipy's `binomtest(...).proportion_ci(method="wilson")`); latency quantiles get a bootstrap
percentile interval from a seeded numpy generator. The bootstrap draws the two order statistics the
quantile interpolates between straight from their Beta distributions (the k-th smallest of n
uniform draws is Beta(k, n - k + 1)), which is exactly the distribution a resample-and-sort bootstrap
has, at O(resamples) cost after one sort instead of O(n x resamples).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy import stats

from chaos.metrics import FRACTIONS, PHASES, SERIES
from chaos.record import ReadySample
from chaos.recovery import recovery_time

CONFIDENCE = 0.90
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
QUANTILES = {"latency_p50": 0.50, "latency_p95": 0.95, "latency_p99": 0.99}


class RequestRecord(Protocol):
    """What observation needs of a request record (load/_records.Record has it)."""

    @property
    def time(self) -> float: ...
    @property
    def latency(self) -> float: ...
    @property
    def outcome(self) -> str: ...
    @property
    def error_kind(self) -> str: ...
    @property
    def degraded(self) -> bool: ...
    @property
    def fallback(self) -> bool: ...
    @property
    def feature_source(self) -> str: ...
    @property
    def correct(self) -> bool | None: ...
    @property
    def fallback_reason(self) -> str: ...


@dataclass(frozen=True)
class Value:
    """An observed value and its interval (None where undefined: no request, no success)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class PhaseObservation:
    name: str
    start: float
    end: float
    requests: int
    values: dict[str, Value]
    errors: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, metric: str) -> float | None:
        return self.values[metric].value

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "requests": self.requests,
            "metrics": {k: v.to_dict() for k, v in self.values.items()},
            "errors": dict(sorted(self.errors.items())),
        }


@dataclass(frozen=True)
class Observation:
    """Everything observed about one run, times in seconds from its origin."""

    origin: float
    phases: tuple[PhaseObservation, ...]
    series: dict[str, list[float | None]]
    recovery_time: float | None
    pods_ready_after: float | None
    fault_start: float | None
    fault_end: float | None
    confidence: float = CONFIDENCE
    breaker_first_trip: float | None = None
    breaker_trip_source: str = ""

    def phase(self, name: str) -> PhaseObservation | None:
        return next((p for p in self.phases if p.name == name), None)

    def metric(self, name: str, phase: str | None = None) -> float | None:
        """A phased metric's value in `phase`, or a whole-run metric (recovery_time, breaker_first_trip)."""
        if name == "recovery_time":
            return self.recovery_time
        if name == "breaker_first_trip":
            return self.breaker_first_trip
        observed = self.phase(phase) if phase is not None else None
        if observed is None or name not in observed.values:
            return None
        return observed[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "confidence": self.confidence,
            "phases": {p.name: p.to_dict() for p in self.phases},
            "recovery_time": self.recovery_time,
            "breaker_first_trip": self.breaker_first_trip,
            "breaker_trip_source": self.breaker_trip_source,
            "pods_ready_after": self.pods_ready_after,
            "fault_start": self.fault_start,
            "fault_end": self.fault_end,
            "series": {"time": list(range(len(self.series.get("requests", [])))), **self.series},
        }


# -- intervals ----------------------------------------------------------------------------------
def wilson_interval(
    successes: int, trials: int, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """Wilson score interval of a binomial proportion; None without trials."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} must be between 0 and 1")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes={successes} must be between 0 and trials={trials}")
    if trials == 0:
        return None
    ci = stats.binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def bootstrap_quantile_interval(
    values: Sequence[float] | np.ndarray,
    q: float,
    rng: np.random.Generator,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """Percentile-bootstrap interval of numpy's linear-interpolation `q`-quantile of `values`."""
    if not 0 <= q <= 1:
        raise ValueError(f"q={q} must be between 0 and 1")
    if resamples < 1:
        raise ValueError(f"resamples={resamples} must be >= 1")
    data = np.sort(np.asarray(values, dtype=float))
    n = len(data)
    if n == 0:
        return None
    position = (n - 1) * q
    k = math.floor(position)  # 0-based rank of the lower order statistic
    fraction = position - k
    lower_u = rng.beta(k + 1, n - k, size=resamples)  # (k+1)-th smallest of n uniforms
    lower = data[np.minimum((lower_u * n).astype(np.int64), n - 1)]
    if fraction > 0 and k + 1 < n:
        upper_u = lower_u + (1 - lower_u) * rng.beta(1, n - k - 1, size=resamples)
        upper = data[np.minimum((upper_u * n).astype(np.int64), n - 1)]
        draws = lower + fraction * (upper - lower)
    else:
        draws = lower
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


# -- metrics of a set of records ------------------------------------------------------------------
def is_success(record: RequestRecord) -> bool:
    return record.outcome != "error"


def is_cached(record: RequestRecord) -> bool:
    return is_success(record) and record.feature_source == "cache"


def is_fallback(record: RequestRecord) -> bool:
    return is_success(record) and (record.fallback or record.degraded or record.feature_source == "cache")


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def point_metrics(records: Sequence[RequestRecord], duration: float) -> dict[str, float | None]:
    """Every phased request metric of `records` sent over `duration` seconds (no intervals)."""
    requests = len(records)
    ok = [r for r in records if is_success(r)]
    judged = [r for r in ok if r.correct is not None]
    latencies = np.array([r.latency for r in ok], dtype=float)
    values: dict[str, float | None] = {
        "availability": _share(len(ok), requests),
        "error_rate": _share(requests - len(ok), requests),
        "cache_share": _share(sum(1 for r in records if is_cached(r)), requests),
        "fallback_share": _share(sum(1 for r in records if is_fallback(r)), requests),
        "wrong_rate": _share(sum(1 for r in judged if r.correct is False), len(judged)),
        "throughput": len(ok) / duration if duration > 0 else None,
    }
    for name, q in QUANTILES.items():
        values[name] = float(np.quantile(latencies, q)) if len(latencies) else None
    return values


def observe_phase(
    name: str,
    start: float,
    end: float,
    records: Sequence[RequestRecord],
    ready_min: int | None,
    rng: np.random.Generator,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> PhaseObservation:
    """The phase's metrics with intervals; `records` are the requests sent in it."""
    points = point_metrics(records, end - start)
    requests = len(records)
    ok = [r for r in records if is_success(r)]
    judged = sum(1 for r in ok if r.correct is not None)
    counts = {
        "availability": (len(ok), requests),
        "error_rate": (requests - len(ok), requests),
        "cache_share": (sum(1 for r in records if is_cached(r)), requests),
        "fallback_share": (sum(1 for r in records if is_fallback(r)), requests),
        "wrong_rate": (sum(1 for r in ok if r.correct is False), judged),
    }
    values: dict[str, Value] = {}
    for metric in FRACTIONS:
        part, whole = counts[metric]
        interval = wilson_interval(part, whole, confidence)
        values[metric] = Value(points[metric], *(interval or (None, None)))
    latencies = np.array([r.latency for r in ok], dtype=float)
    for metric, q in QUANTILES.items():
        interval = bootstrap_quantile_interval(latencies, q, rng, resamples, confidence)
        values[metric] = Value(points[metric], *(interval or (None, None)))
    values["throughput"] = Value(points["throughput"])
    values["ready_pods_min"] = Value(None if ready_min is None else float(ready_min))
    errors: dict[str, int] = {}
    for r in records:
        if not is_success(r):
            kind = r.error_kind or "unknown"
            errors[kind] = errors.get(kind, 0) + 1
    return PhaseObservation(name, start, end, requests, values, errors)


# -- per second ---------------------------------------------------------------------------------
def _nearest_rank(sorted_values: list[float], q: float) -> float:
    rank = max(math.ceil(q * len(sorted_values)) - 1, 0)
    return sorted_values[rank]


def by_second(records: Iterable[RequestRecord], origin: float, size: int) -> list[list[RequestRecord]]:
    """The records sent in each of the first `size` whole seconds from `origin`."""
    buckets: list[list[RequestRecord]] = [[] for _ in range(size)]
    for r in records:
        second = math.floor(r.time - origin)
        if 0 <= second < size:
            buckets[second].append(r)
    return buckets


def per_second(
    records: Iterable[RequestRecord], origin: float, horizon: float, samples: Sequence[ReadySample] = ()
) -> dict[str, list[float | None]]:
    """One value per whole second of the run for each name in SERIES (None where undefined)."""
    size = max(math.ceil(horizon), 0)
    buckets = by_second(records, origin, size)
    series: dict[str, list[float | None]] = {name: [] for name in SERIES}
    for second, bucket in enumerate(buckets):
        width = min(second + 1.0, horizon) - second
        requests = len(bucket)
        ok = sorted(r.latency for r in bucket if is_success(r))
        series["requests"].append(float(requests))
        series["availability"].append(_share(len(ok), requests))
        series["error_rate"].append(_share(requests - len(ok), requests))
        series["cache_share"].append(_share(sum(1 for r in bucket if is_cached(r)), requests))
        series["fallback_share"].append(_share(sum(1 for r in bucket if is_fallback(r)), requests))
        series["throughput"].append(len(ok) / width)
        for name, q in QUANTILES.items():
            series[name].append(_nearest_rank(ok, q) if ok else None)
    series["ready_pods"] = ready_per_second(samples, origin, size)
    return series


def ready_per_second(samples: Sequence[ReadySample], origin: float, size: int) -> list[float | None]:
    """The fewest ready pods sampled in each second (the last earlier sample where none was taken)."""
    out: list[float | None] = []
    ordered = sorted(samples, key=lambda s: s.time)
    index, last = 0, None
    for second in range(size):
        lowest: int | None = None
        while index < len(ordered) and ordered[index].time - origin < second + 1:
            ready = ordered[index].ready
            if ordered[index].time - origin >= second:
                lowest = ready if lowest is None else min(lowest, ready)
            last = ready
            index += 1
        value = lowest if lowest is not None else last
        out.append(None if value is None else float(value))
    return out


def ready_min(samples: Sequence[ReadySample], origin: float, start: float, end: float) -> int | None:
    """Fewest ready pods among the samples taken in [start, end) seconds from the origin."""
    inside = [s.ready for s in samples if start <= s.time - origin < end]
    return min(inside) if inside else None


def ready_steps(samples: Sequence[ReadySample], origin: float) -> tuple[np.ndarray, np.ndarray]:
    """The ready count as steps (time from the origin of each change, count from then on)."""
    times: list[float] = []
    counts: list[int] = []
    for s in sorted(samples, key=lambda s: s.time):
        if not counts or s.ready != counts[-1]:
            times.append(s.time - origin)
            counts.append(s.ready)
    return np.array(times, dtype=float), np.array(counts, dtype=np.int64)


def pods_ready_after(samples: Sequence[ReadySample], origin: float, fault_end: float) -> float | None:
    """Seconds from `fault_end` until every desired pod was ready for good (None: not by the end)."""
    ordered = sorted(samples, key=lambda s: s.time)
    if not ordered or ordered[-1].ready < ordered[-1].desired:
        return None
    back = ordered[-1].time - origin
    for s in reversed(ordered):
        if s.ready < s.desired:
            break
        back = s.time - origin
    return max(0.0, back - fault_end)


BREAKER_OPEN = "breaker_open"


def breaker_first_trip(
    records: Iterable[RequestRecord],
    origin: float,
    fault_start: float | None,
    trips: Sequence[float] = (),
) -> tuple[float | None, str]:
    """Seconds from `fault_start` to the first breaker trip, and where that came from: the pods'
    trip times (unix) when there are any, else the first answer reporting an open breaker."""
    if fault_start is None:
        return None, ""
    from_pods = [t - origin - fault_start for t in trips if t - origin >= fault_start]
    if from_pods:
        return min(from_pods), "pods"
    answered = [r.time + r.latency - origin for r in records if r.fallback_reason == BREAKER_OPEN]
    later = [t - fault_start for t in answered if t >= fault_start]
    return (min(later), "answers") if later else (None, "")


# -- the whole run ------------------------------------------------------------------------------
def observe_run(
    records: Sequence[RequestRecord],
    origin: float,
    bounds: dict[str, tuple[float, float]],
    samples: Sequence[ReadySample],
    fault_start: float | None,
    fault_end: float | None,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    breaker_trips: Sequence[float] = (),
    pod_changes: Sequence[float] = (),
) -> Observation:
    """Observe a run: `bounds` are each phase's (start, end) and fault times are seconds from `origin`;
    `breaker_trips` are the unix times the pods' breakers opened, as far as known; `pod_changes` the
    unix times pods were created or deleted (the run's events)."""
    rng = np.random.default_rng(seed)
    horizon = max((end for _, end in bounds.values()), default=0.0)
    phases = []
    for name in [p for p in PHASES if p in bounds] + [p for p in bounds if p not in PHASES]:
        start, end = bounds[name]
        inside = [r for r in records if start <= r.time - origin < end]
        low = ready_min(samples, origin, start, end)
        phases.append(observe_phase(name, start, end, inside, low, rng, confidence, resamples))
    series = per_second(records, origin, horizon, samples)
    recovered, pods_back = None, None
    if fault_start is not None and fault_end is not None and samples:
        times, counts = ready_steps(samples, origin)
        buckets = by_second(records, origin, math.ceil(horizon))
        requests = np.array([len(b) for b in buckets], dtype=float)
        successes = np.array([sum(1 for r in b if is_success(r)) for b in buckets], dtype=float)
        desired = samples[-1].desired
        settled = max(pod_changes, default=origin) - origin
        recovered = recovery_time(
            requests, successes, times, counts, desired, fault_start, fault_end, horizon, settled
        )
        pods_back = pods_ready_after(samples, origin, fault_end)
    trip, trip_source = breaker_first_trip(records, origin, fault_start, breaker_trips)
    return Observation(
        origin=origin,
        phases=tuple(phases),
        series=series,
        recovery_time=recovered,
        pods_ready_after=pods_back,
        fault_start=fault_start,
        fault_end=fault_end,
        confidence=confidence,
        breaker_first_trip=trip,
        breaker_trip_source=trip_source,
    )
