"""Monte Carlo: R independent replications, in parallel processes, summarised with intervals.

Replication i draws from the i-th child of `numpy.random.SeedSequence(seed).spawn(R)`, so the
numbers depend on the seed only, never on how many processes ran them. Every metric gets a point
estimate (the mean over replications; for latency quantiles the median of the per-replication
quantiles) and a 90 % prediction interval for the value of the next run (sim/interval.py: order
statistics from 19 replications on, Student's t below, clipped to the metric's domain); per-second
series get the 5th to 95th percentile band of the replications (numpy's linear interpolation), a
picture of their spread rather than a claim about one run. A calibrated profile carries bootstrap
parameter sets (`SystemProfile.parameter_sets`); replication i then runs with set i mod n, so the
interval holds the parameters' uncertainty too. A profile's run-to-run variation (`variation.speed`)
gives replication i its own speed factor, the i-th normal draw of a stream of its own
(`SeedSequence(seed, spawn_key=(VARIATION_STREAM,))`), so the interval holds the spread between
runs as well, and a replication's factor does not depend on how many replications there are; its
`variation.faultLag` likewise gives each replication its own chaos-tooling lag (`replication_lags`,
a stream of its own), which moves its faults by milliseconds, and an uncalibrated profile's
`variation.overhead` its own request-overhead factor (the machine it might run on; OVERHEAD_STREAM).
Undefined per-replication values (the breaker never tripped, no successful request) are left out;
`Estimate.count` says how many replications had a value. Its JSON form
(`sim.forecast_summary.PredictionSummary.of(prediction).to_dict()`) is documented in sim/README.md.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np

from chaos.errors import SimulationError
from chaos.metrics import METRICS, SERIES
from chaos.spec import compare
from chaos.system import SystemProfile
from sim.interval import NON_NEGATIVE, SHARE, UNBOUNDED, Bounds, prediction_interval
from sim.replication import run_replication
from sim.result import PHASE_METRICS, RUN_METRICS, Replication
from sim.scenario import Phase, Scenario

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
VARIATION_STREAM = 2**31
"""The spawn key of the run-to-run variation's random stream (replications use keys 0..R-1)."""
LAG_STREAM = 2**31 + 1
"""The spawn key of the fault lag's random stream (`variation.faultLag`)."""
PHASE_STREAM = 2**31 + 2
"""The spawn key of the alert rules' evaluation phases' random stream (sim.promtool)."""
OVERHEAD_STREAM = 2**31 + 3
"""The spawn key of the machine-to-machine overhead's random stream (`variation.overhead`)."""
INTERVAL = (5.0, 95.0)  # percentiles of the per-replication values of a per-second series' band
MEDIAN_METRICS = frozenset(m for m in PHASE_METRICS if m.startswith("latency_"))

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Estimate:
    """A point estimate and a 90 % prediction interval; None when no replication had a value."""

    point: float | None
    low: float | None
    high: float | None
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"point": self.point, "low": self.low, "high": self.high, "count": self.count}


@dataclass(frozen=True)
class Band:
    """A per-second series: the mean over replications and the 5th-95th percentile band."""

    time: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def domain(metric: str) -> Bounds:
    """Where `metric`'s values can lie: a fraction (chaos.metrics) in [0, 1], any other at or above 0."""
    info = METRICS.get(metric)
    return SHARE if info is not None and info.unit == "fraction" else NON_NEGATIVE


def estimate(values: np.ndarray, median: bool = False, bounds: Bounds = UNBOUNDED) -> Estimate:
    """The estimate of per-replication `values` (NaN = undefined in that replication): their mean
    (median if `median`) and the 90 % prediction interval of the next value, within `bounds`."""
    defined = values[np.isfinite(values)]
    if not len(defined):
        return Estimate(None, None, None, 0)
    point = float(np.median(defined) if median else np.mean(defined))
    low, high = prediction_interval(defined, bounds)
    return Estimate(point, low, high, len(defined))


@dataclass(frozen=True)
class Prediction:
    """What R replications of one scenario predict."""

    phases: tuple[Phase, ...]
    horizon: float
    seed: int
    replications: tuple[Replication, ...]

    def _check(self, metric: str, phase: str | None) -> None:
        if metric not in PHASE_METRICS and metric not in RUN_METRICS:
            known = ", ".join((*PHASE_METRICS, *RUN_METRICS))
            raise SimulationError(f"metric={metric!r} is not one of {known}")
        if metric in PHASE_METRICS and phase not in [p.name for p in self.phases]:
            names = [p.name for p in self.phases]
            raise SimulationError(f"phase={phase!r} must be one of {names} for metric {metric}")
        if metric in RUN_METRICS and phase is not None:
            raise SimulationError(f"phase={phase!r} must be None: {metric} is about the whole run")

    def values(self, metric: str, phase: str | None = None) -> np.ndarray:
        """The metric in each replication (NaN where undefined)."""
        self._check(metric, phase)
        return np.array([r.metric(metric, phase) for r in self.replications], dtype=float)

    def metric(self, name: str, phase: str | None = None) -> Estimate:
        """Point estimate and 90 % interval of `name` in `phase` (None for whole-run metrics)."""
        return estimate(self.values(name, phase), median=name in MEDIAN_METRICS, bounds=domain(name))

    def probability(self, metric: str, phase: str | None, op: str, threshold: float) -> float:
        """Share of replications in which `metric op threshold` held (undefined values do not hold)."""
        values = self.values(metric, phase)
        held = sum(1 for v in values if math.isfinite(v) and compare(float(v), op, threshold))
        return held / len(values)

    def error_shares(self, phase: str) -> dict[str, Estimate]:
        """Share of the phase's requests that failed, per error kind."""
        return self._shares(phase, lambda r: r.phase(phase).errors)

    def fallback_shares(self, phase: str) -> dict[str, Estimate]:
        """Share of the phase's requests answered by the fallback model, per reason."""
        return self._shares(phase, lambda r: r.phase(phase).fallback_reasons)

    def _shares(self, phase: str, counts: Callable[[Replication], dict[str, int]]) -> dict[str, Estimate]:
        self._check("requests", phase)
        out: dict[str, Estimate] = {}
        totals = np.array([r.phase(phase)["requests"] for r in self.replications])
        keys = list(counts(self.replications[0])) if self.replications else []
        for key in keys:
            parts = np.array([counts(r)[key] for r in self.replications], dtype=float)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[key] = estimate(parts / totals, bounds=SHARE)
        return out

    def latency_sketch(self, phase: str) -> np.ndarray:
        """The phase's successful-request latency at SKETCH_LEVELS, pooled over replications by
        averaging their quantile functions (NaN where no replication had a success)."""
        self._check("requests", phase)
        stack = np.vstack([r.phase(phase).latency_sketch for r in self.replications])
        if not np.isfinite(stack).any():
            return np.full(stack.shape[1], math.nan)
        with np.errstate(invalid="ignore"):
            return np.asarray(np.nanmean(stack, axis=0), dtype=float)

    def series(self, name: str) -> Band:
        if name not in SERIES:
            raise SimulationError(f"series={name!r} is not one of {', '.join(SERIES)}")
        stack = np.vstack([r.seconds[name] for r in self.replications])
        size = stack.shape[1]
        mean, low, high = np.full(size, math.nan), np.full(size, math.nan), np.full(size, math.nan)
        defined = np.isfinite(stack).any(axis=0)
        if defined.any():
            part = stack[:, defined]
            with np.errstate(invalid="ignore"):
                mean[defined] = np.nanmean(part, axis=0)
                low[defined], high[defined] = np.nanpercentile(part, INTERVAL, axis=0)
        return Band(np.arange(size, dtype=float), mean, low, high)


def _workers(jobs: int | None, replications: int) -> int:
    if jobs is None:
        jobs = os.cpu_count() or 1
    if jobs < 1:
        raise SimulationError(f"jobs={jobs} must be >= 1")
    return min(jobs, replications)


def stream(seed: int, key: int) -> np.random.Generator:
    """The prediction's random stream `key` (one of the *_STREAM keys): a draw per replication for
    what varies per run beside the replications' own streams (keys 0..R-1)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))


def replication_profiles(profile: SystemProfile, replications: int, seed: int = 0) -> list[SystemProfile]:
    """The profile each replication runs: parameter set i mod n of a calibrated profile (else the
    profile itself, its request overhead scaled by the replication's machine factor,
    `variation.overhead`), then slowed or sped up by its run-to-run speed factor (`variation.speed`)."""
    sets = profile.parameter_sets
    profiles = (
        [profile.with_parameters(sets[i % len(sets)]) for i in range(replications)]
        if sets
        else [profile] * replications
    )
    spread = profile.variation
    if spread.overhead > 0 and profile.calibration is None:
        draws = stream(seed, OVERHEAD_STREAM).standard_normal(replications)
        profiles = [
            p.with_overhead_factor(spread.overhead_factor(float(z)))
            for p, z in zip(profiles, draws, strict=True)
        ]
    if spread.speed == 0:
        return profiles
    draws = stream(seed, VARIATION_STREAM).standard_normal(replications)
    return [p.with_speed(spread.factor(float(z))) for p, z in zip(profiles, draws, strict=True)]


def replication_lags(
    profile: SystemProfile, scenario: Scenario, replications: int, seed: int = 0
) -> list[float]:
    """How much later than the scenario's tooling lag (`faultTiming.applyDelay`) each replication's
    faults act (`variation.faultLag`; seconds, negative for sooner, never before their step)."""
    apply, spread = scenario.tooling_lag, profile.variation
    if spread.fault_lag == 0 or apply == 0:
        return [0.0] * replications
    draws = stream(seed, LAG_STREAM).standard_normal(replications)
    return [apply * (spread.lag_factor(float(z)) - 1.0) for z in draws]


def predict(
    profile: SystemProfile,
    scenario: Scenario,
    replications: int = 20,
    seed: int = 0,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> Prediction:
    """Run `replications` independent replications (in `jobs` processes; None: one per CPU, 1:
    inline) and summarise them. `progress(done, total)` is called as replications finish."""
    if replications < 1:
        raise SimulationError(f"replications={replications} must be >= 1")
    seeds = np.random.SeedSequence(seed).spawn(replications)
    profiles = replication_profiles(profile, replications, seed)
    scenarios = [scenario.lagged(d) for d in replication_lags(profile, scenario, replications, seed)]
    workers = _workers(jobs, replications)
    results: list[Replication | None] = [None] * replications
    if workers == 1:
        for i, child in enumerate(seeds):
            results[i] = run_replication(profiles[i], scenarios[i], child)
            if progress is not None:
                progress(i + 1, replications)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {
                pool.submit(run_replication, profiles[i], scenarios[i], child): i
                for i, child in enumerate(seeds)
            }
            for done, future in enumerate(as_completed(futures), start=1):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(done, replications)
    log.debug(
        "predicted %d replications of %.0f s with %d worker(s)", replications, scenario.horizon, workers
    )
    return Prediction(scenario.phases, scenario.horizon, seed, tuple(r for r in results if r is not None))
