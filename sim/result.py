"""What one replication says: per-phase and per-second aggregates of its trace.

Requests are counted per attempt (a retry is a request, as Locust counts it) and belong to the
phase and second they were sent in. Latency quantiles are over successful requests (`latency_pXX`)
and over all requests (`latency_all_pXX`, errors at the time the client saw them); per phase they are
numpy's linear-interpolation quantiles, per second the nearest rank. Shares (`cache_share`,
`fallback_share`) are of all requests; `wrong_rate` is of successful ones, against the true label
(from the profile's `modelQuality` per way of answering, injected wrong answers included, as a run
judges answers: with a random generator, a binomial draw per way of answering, since which entities
a run happens to ask about makes its wrong share vary as a binomial count does; without one, the
expected share); `throughput` is successful requests per second of phase.
Undefined values (no request, no success) are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from chaos.errors import SimulationError
from chaos.recovery import as_sampled, recovery_time
from chaos.system import ModelQuality, SystemProfile
from sim import outcomes as oc
from sim.exported import ExportedCounts, exported_counts
from sim.scenario import Scenario
from sim.timeline import Event
from sim.trace import Trace

QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
SKETCH_LEVELS = np.linspace(0.0, 1.0, 101)
"""The quantile levels of a phase's latency sketch: its distribution in 101 points (0 %, 1 %, ...)."""
PHASE_METRICS = (
    "requests",
    "availability",
    "error_rate",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "latency_all_p50",
    "latency_all_p95",
    "latency_all_p99",
    "cache_share",
    "fallback_share",
    "wrong_rate",
    "throughput",
    "ready_pods_min",
)
RUN_METRICS = ("breaker_first_trip", "breaker_trips", "recovery_time")
ERROR_KINDS = tuple(oc.ERROR_KINDS.values())
FALLBACK_REASONS = tuple(oc.FALLBACK_REASONS.values())


@dataclass(frozen=True)
class PhaseStats:
    name: str
    start: float
    end: float
    values: dict[str, float]  # every name in PHASE_METRICS
    errors: dict[str, int] = field(default_factory=dict)  # count per error kind
    fallback_reasons: dict[str, int] = field(default_factory=dict)  # fallback-model answers per reason
    latency_sketch: np.ndarray = field(default_factory=lambda: np.full(len(SKETCH_LEVELS), math.nan))
    """Latency of the phase's successful requests at SKETCH_LEVELS (linear quantiles; NaN if none)."""

    def __getitem__(self, metric: str) -> float:
        return self.values[metric]


@dataclass(frozen=True)
class Replication:
    phases: tuple[PhaseStats, ...]
    seconds: dict[str, np.ndarray]  # every name in SERIES, one value per second of the run
    breaker_first_trip: float | None
    breaker_trips: int
    recovery_time: float | None
    events: tuple[Event, ...]
    exported: ExportedCounts | None = None
    """What the pods' /metrics counted per second (for the alert rules; sim/exported.py)."""

    def phase(self, name: str) -> PhaseStats:
        for stats in self.phases:
            if stats.name == name:
                return stats
        raise SimulationError(f"phase={name!r} is not one of {[p.name for p in self.phases]}")

    def metric(self, name: str, phase: str | None = None) -> float:
        """A metric's value in this replication (NaN when undefined, e.g. the breaker never tripped)."""
        if name in RUN_METRICS:
            if phase is not None:
                raise SimulationError(f"metric={name!r} is about the whole run; phase={phase!r} must be None")
            value = getattr(self, name)
            return math.nan if value is None else float(value)
        if name not in PHASE_METRICS:
            raise SimulationError(f"metric={name!r} is not one of {', '.join(PHASE_METRICS + RUN_METRICS)}")
        if phase is None:
            raise SimulationError(
                f"metric={name!r} is per phase; give one of {[p.name for p in self.phases]}"
            )
        return self.phase(phase).values[name]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def _quantiles(values: np.ndarray) -> list[float]:
    if not len(values):
        return [math.nan] * len(QUANTILES)
    return [float(q) for q in np.quantile(values, list(QUANTILES.values()))]


PERFECT_MODEL = ModelQuality()
"""No error of its own: only injected wrong answers count."""


def expected_wrong(model: np.ndarray, quality: ModelQuality, rolled: float = 0.0) -> float:
    """How many of these successful answers (their model codes) are wrong against the label, in
    expectation: each way of answering has its own error share (`rolled`: the rolled-out version's);
    an injected wrong answer is the primary model's answer flipped, so it is wrong where the
    primary model would have been right."""
    counts = np.bincount(model, minlength=oc.ROLLED + 1)
    return float(
        counts[oc.ROLLED] * rolled
        + counts[oc.PRIMARY] * quality.primary
        + counts[oc.WRONG] * (1.0 - quality.primary)
        + (counts[oc.FALLBACK_ERROR] + counts[oc.FALLBACK_TIMEOUT]) * quality.fallback_model
        + counts[oc.FALLBACK_FEATURES] * quality.default_features
    )


def sampled_wrong(
    model: np.ndarray, quality: ModelQuality, rng: np.random.Generator, rolled: float = 0.0
) -> float:
    """How many of these successful answers are wrong in one run: `expected_wrong`'s shares drawn
    as binomial counts (each request asks about an entity drawn at random, wrong or not)."""
    counts = np.bincount(model, minlength=oc.ROLLED + 1)
    fallback_model = int(counts[oc.FALLBACK_ERROR] + counts[oc.FALLBACK_TIMEOUT])
    return float(
        rng.binomial(int(counts[oc.ROLLED]), rolled)
        + rng.binomial(int(counts[oc.PRIMARY]), quality.primary)
        + rng.binomial(int(counts[oc.WRONG]), 1.0 - quality.primary)
        + rng.binomial(fallback_model, quality.fallback_model)
        + rng.binomial(int(counts[oc.FALLBACK_FEATURES]), quality.default_features)
    )


def phase_stats(
    name: str,
    start: float,
    end: float,
    trace: Trace,
    ready_min: int,
    quality: ModelQuality = PERFECT_MODEL,
    rng: np.random.Generator | None = None,
    rolled: float = 0.0,
) -> PhaseStats:
    """One phase's aggregates; `rng` draws its wrong answers (None: their expected number);
    `rolled` is the wrong share of a rolled-out model version's primary model."""
    sent = (trace.send >= start) & (trace.send < end)
    code = trace.code[sent]
    latency = trace.latency[sent]
    status, features, model = oc.status(code), oc.features(code), oc.model(code)
    ok = status == oc.OK
    requests, successes = len(code), int(ok.sum())
    fallback = ok & np.isin(model, list(oc.FALLBACK_REASONS))
    degraded = fallback | (ok & (features == oc.CACHE))
    values = {
        "requests": float(requests),
        "availability": _share(successes, requests),
        "error_rate": _share(requests - successes, requests),
        "cache_share": _share(int((ok & (features == oc.CACHE)).sum()), requests),
        "fallback_share": _share(int(degraded.sum()), requests),
        "wrong_rate": (
            (
                expected_wrong(model[ok], quality, rolled)
                if rng is None
                else sampled_wrong(model[ok], quality, rng, rolled)
            )
            / successes
            if successes
            else math.nan
        ),
        "throughput": successes / (end - start),
        "ready_pods_min": float(ready_min),
    }
    for (label, _), ok_q, all_q in zip(
        QUANTILES.items(), _quantiles(latency[ok]), _quantiles(latency), strict=True
    ):
        values[f"latency_{label}"] = ok_q
        values[f"latency_all_{label}"] = all_q
    errors = {kind: int((status == s).sum()) for s, kind in oc.ERROR_KINDS.items()}
    reasons = {reason: int((ok & (model == m)).sum()) for m, reason in oc.FALLBACK_REASONS.items()}
    served = latency[ok]
    sketch = np.quantile(served, SKETCH_LEVELS) if len(served) else np.full(len(SKETCH_LEVELS), math.nan)
    return PhaseStats(name, start, end, values, errors, reasons, sketch)


def _per_second_quantiles(second: np.ndarray, latency: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Nearest-rank quantiles of `latency` grouped by `second` (NaN for empty seconds)."""
    scale = float(latency.max()) + 1.0 if len(latency) else 1.0
    order = np.argsort(second * scale + latency)  # by second, then latency (one float key: fast)
    second, latency = second[order], latency[order]
    counts = np.bincount(second, minlength=size)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = {}
    for label, q in QUANTILES.items():
        series = np.full(size, math.nan)
        has = counts > 0
        rank = np.ceil(q * counts[has]).astype(np.int64) - 1
        series[has] = latency[first[has] + np.maximum(rank, 0)]
        out[f"latency_{label}"] = series
    return out


def second_series(trace: Trace, horizon: float) -> dict[str, np.ndarray]:
    size = math.ceil(horizon)
    second = np.minimum(trace.send.astype(np.int64), size - 1)
    status, features, model = oc.status(trace.code), oc.features(trace.code), oc.model(trace.code)
    ok = status == oc.OK
    requests = np.bincount(second, minlength=size).astype(float)
    successes = np.bincount(second[ok], minlength=size).astype(float)
    cache = np.bincount(second[ok & (features == oc.CACHE)], minlength=size)
    degraded = ok & ((features == oc.CACHE) | np.isin(model, list(oc.FALLBACK_REASONS)))
    fallback = np.bincount(second[degraded], minlength=size)
    widths = np.minimum(np.arange(1, size + 1), horizon) - np.arange(size)
    with np.errstate(invalid="ignore", divide="ignore"):
        series = {
            "requests": requests,
            "availability": successes / requests,
            "error_rate": (requests - successes) / requests,
            "cache_share": cache / requests,
            "fallback_share": fallback / requests,
            "throughput": successes / widths,
        }
    series.update(_per_second_quantiles(second[ok], trace.latency[ok], size))
    series["ready_pods"] = _ready_per_second(trace, size)
    series["successes"] = successes
    return series


def _ready_per_second(trace: Trace, size: int) -> np.ndarray:
    """The fewest ready pods during each second."""
    times, counts = trace.timeline.ready_steps()
    starts = np.arange(size, dtype=float)
    ready = counts[np.searchsorted(times, starts, side="right") - 1].astype(float)
    for when, count in zip(times[1:], counts[1:], strict=True):
        k = int(when)
        if k < size:
            ready[k] = min(ready[k], count)
    return ready


def summarise(
    profile: SystemProfile, scenario: Scenario, trace: Trace, rng: np.random.Generator | None = None
) -> Replication:
    """The replication's aggregates (the trace itself is dropped); `rng` draws the wrong answers."""
    horizon = scenario.horizon
    timeline = trace.timeline
    quality = profile.model_quality
    rolled = quality.primary_of(scenario.model_version) if scenario.model_version is not None else 0.0
    phases = tuple(
        phase_stats(p.name, p.start, p.end, trace, timeline.ready_min(p.start, p.end), quality, rng, rolled)
        for p in scenario.phases
    )
    seconds = second_series(trace, horizon)
    trips = [e.time for e in trace.breaker_events if e.kind == "breaker-open"]
    since = scenario.store_fault_start()
    if since is None:
        since = scenario.fault_start() or 0.0
    later = [t - since for t in trips if t >= since]
    fault_start, fault_end = scenario.fault_start(), scenario.fault_end()
    recovered = None
    if fault_start is not None and fault_end is not None:
        times, counts = timeline.ready_steps()
        recovered = recovery_time(
            seconds["requests"],
            seconds["successes"],
            as_sampled(times),  # as the runner's samples see the pods
            counts,
            profile.service.replicas,
            fault_start,
            fault_end,
            horizon,
        )
    del seconds["successes"]
    return Replication(
        phases=phases,
        seconds=seconds,
        breaker_first_trip=min(later) if later else None,
        breaker_trips=len(trips),
        recovery_time=recovered,
        events=trace.events,
        exported=exported_counts(trace, horizon),
    )
