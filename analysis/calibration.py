"""Calibration: fit what a system profile cannot know beforehand from a run's baseline.

Pure: `calibrate(RunData)` returns a `CalibrationResult` whose `profile` is the run's profile with
the fitted values and a `calibration` section (chaos/calibration.py); `calibrated_document` puts them
into the profile's YAML document. `sim calibrate RUN_DIR` is the command (cli/sim.py).

What is fitted, from what, and why this way:

1. Feature-store latency, from the recorded histogram_quantile(s) of the pods' feature-store call
   histogram in the baseline (the median of the points). One quantile pins one parameter, so the
   profile's family and cv are kept and the mean is solved so that the same histogram_quantile of the
   model distribution (its expected bucket shares, the service's buckets) matches. Without such a
   series the profile's latency is kept (noted).
2. Model service time, from the recorded histogram_quantile(s) of the pods' request-duration
   histogram: the pods' own latency, queueing and feature-store call included, none of what lies
   outside them. The profile's service time is scaled (family and cv kept) until the simulated
   baseline's pod latency, bucketed the same way, gives the same histogram_quantile. Simulations
   are short, seeded and share their random numbers across candidates (a scaled lognormal or gamma
   draw is the same draw scaled), so the objective is smooth and a bounded scalar search
   (scipy.optimize.minimize_scalar) converges in a few dozen short simulations. Without the series
   the profile's service time is kept: the client latency alone cannot tell time in the pod from
   time outside it.
3. Request overhead, from the requests' own latency (successful baseline requests, as latency_pXX
   counts them): the distribution that, added to the simulated pods' answers, brings the simulated
   client latency closest to the observed in 1-Wasserstein distance; every candidate family is fitted
   and the smallest distance picks the family (analysis/overhead_fit.py says why that distance).
4. Parameter uncertainty: a moving-block bootstrap of the baseline's seconds (blocks of 10 s: a
   shared machine's slow spells last longer than a second, and the Prometheus points of the chosen
   seconds go with their requests), each resample refitted (steps 1-3, the overhead within the
   chosen family; a resample's service time is read off the pods' quantile simulated at 9 scales
   around the whole fit's; the simulations' random numbers are the same for every resample, so the
   spread is the data's). The refits are the profile's `calibration.parameterSets`. Measured on
   synthetic 2-minute baselines, the overhead's bootstrap spread is close to its run-to-run spread
   (sd 0.09 ms against 0.11 ms) but the service time's is about a quarter of it (0.05 ms against
   0.18 ms): its quantile comes from 30 s rate windows, about three independent ones in the
   baseline, which a resample of seconds cannot see. Longer baselines narrow both.
5. Cache hit rate: the share of the run's fallback lookups (answers with cached or default
   features) that found cached features, when the record has at least 30; readiness: the start-up
   time of pods the chaos took down and the record shows coming back (analysis/readiness_fit.py).
6. The load: its pacing lateness (from the baseline's request rate) and its start delay (from the
   run's first request, less the mean wait for a grid point); the chaos tooling's lag
   (`faultTiming`: the first injection after its step's start, the faults' end after the phase's).

Fit quality: the Wasserstein distance and p50/p95 of the simulated baseline, run through the full
simulator (the overhead inside the kernel) on seeds the fit did not use, with the profile as it was
and as calibrated, against the observed.
"""

from __future__ import annotations

import copy
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from analysis.baseline import Baseline
from analysis.observed import wilson_interval
from analysis.overhead_fit import FamilyFit, wasserstein
from analysis.parameter_fit import BaselineModel, Resample, ServiceCurve, baseline_model, fit, refit
from analysis.readiness_fit import StartupFit, fit_startup
from analysis.record import RunData
from chaos.calibration import Calibration, FitQuality, Quantiles
from chaos.durations import precise_duration, rounded_duration
from chaos.system import FaultTiming, SystemProfile
from load import MAX_SPAWN_RATE
from sim.replication import simulate

RESAMPLES = 20
BLOCK = 10.0
REPLICATIONS = 2
"""Simulated baselines per evaluation (fit) and per quality check."""
MIN_LOOKUPS = 30
MIN_PACING_SPAN = 20.0
"""Seconds of baseline after the users started that the pacing lateness is measured over, at least."""


@dataclass(frozen=True)
class CalibrationResult:
    original: SystemProfile
    profile: SystemProfile
    """The calibrated profile: fitted values, hit rate and start-up time, the calibration section."""
    families: dict[str, FamilyFit]
    hit_rate: tuple[float, float, float, int] | None = None
    """Observed hit rate, its 90 % Wilson interval and the number of lookups."""
    startup: StartupFit | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def calibration(self) -> Calibration:
        assert self.profile.calibration is not None
        return self.profile.calibration


def _latency(profile: SystemProfile, model: BaselineModel, seeds: list[np.random.SeedSequence]) -> np.ndarray:
    traces = [simulate(profile, model.scenario, np.random.default_rng(s)) for s in seeds]
    return np.concatenate([t.latency[t.ok] for t in traces])


def _quantiles(latency: np.ndarray) -> Quantiles:
    p50, p95 = np.quantile(latency, [0.5, 0.95])
    return Quantiles(rounded_duration(float(p50)), rounded_duration(float(p95)))


def hit_rate(data: RunData) -> tuple[float, float, float, int] | None:
    """Cached / (cached + default features) over the run's successful answers, if enough."""
    lookups = [r for r in data.records if r.outcome != "error" and r.feature_source in ("cache", "defaults")]
    hits = sum(1 for r in lookups if r.feature_source == "cache")
    interval = wilson_interval(hits, len(lookups)) if len(lookups) >= MIN_LOOKUPS else None
    return None if interval is None else (hits / len(lookups), *interval, len(lookups))


def fit_start_delay(data: RunData) -> float | None:
    """Seconds from the run's start to the load's users being started, from its first request:
    that one comes a little after (a closed-loop user waits for its grid point, on average half the
    gap between two users' points, 1 / (2 rps); an open-loop first arrival 1 / rps on average), so
    the mean wait is taken off (None without requests or a run start)."""
    load = data.experiment.system.load
    if data.origin is None or not data.records:
        return None
    first = min(r.time for r in data.records) - data.origin
    wait = 0.5 / load.rps if load.arrival == "closed" else 1.0 / load.rps
    return rounded_duration(max(0.0, round(first - wait, 4)))


def fit_fault_timing(data: RunData) -> FaultTiming | None:
    """The chaos tooling's lag, read off the record: the first injection after its step's start,
    and the last end after the chaos phase's end when the runner deleted the faults there (every
    step lasting to the phase end, the run not stopped earlier; else the profile's removeDelay).
    The end is the action's own (`removeDelays`) when every step is of one action the profile
    lists there, else `removeDelay`. None when nothing was injected."""
    experiment, origin, injected = data.experiment, data.origin, data.fault_start
    if origin is None or injected is None or not experiment.chaos:
        return None
    chaos_start, chaos_end = experiment.phases.bounds()["chaos"]
    first = chaos_start + min(step.after for step in experiment.chaos)
    timing = experiment.system.fault_timing
    actions = {step.manifest.action for step in experiment.chaos}
    action = next(iter(actions)) if len(actions) == 1 and actions <= set(timing.remove_delays) else None
    remove = timing.remove_delay if action is None else timing.remove_delay_of(action)
    to_phase_end = all(
        step.manifest.duration is None or chaos_start + step.after + step.manifest.duration >= chaos_end
        for step in experiment.chaos
    )
    ended = data.fault_end
    if to_phase_end and ended is not None and ended - origin >= chaos_end:
        remove = ended - origin - chaos_end
    apply = rounded_duration(max(0.0, injected - origin - first))
    if action is None:
        return replace(timing, apply_delay=apply, remove_delay=rounded_duration(remove))
    return replace(
        timing, apply_delay=apply, remove_delays={**timing.remove_delays, action: rounded_duration(remove)}
    )


def fit_pacing_lateness(data: RunData) -> float | None:
    """How much later than paced the closed-loop users started each request over the baseline:
    users / observed rate - users / planned rate, from the requests sent after the users were all
    started (None for open arrivals or too short a baseline)."""
    load = data.experiment.system.load
    origin = data.origin
    if load.arrival != "closed" or origin is None:
        return None
    start = math.ceil(load.users / min(load.rps, MAX_SPAWN_RATE)) + 1.0  # every user started
    end = float(data.experiment.phases.baseline)
    if end - start < MIN_PACING_SPAN:
        return None
    sent = sum(1 for r in data.records if start <= r.time - origin < end)
    if not sent:
        return None
    lateness = load.users * (end - start) / sent - load.users / load.rps
    return max(0.0, round(lateness, 5))


def calibrate(
    data: RunData,
    resamples: int = RESAMPLES,
    block: float = BLOCK,
    seed: int = 0,
    replications: int = REPLICATIONS,
    jobs: int = 1,
    run: str = "",
    calibrated: str = "",
) -> CalibrationResult:
    """Fit the profile of `data`'s run to its baseline (module docstring); `run` and `calibrated`
    (a date) are provenance for the calibration section."""
    original = data.experiment.system
    baseline = Baseline.of(data)
    model = baseline_model(original, data, seed, replications)
    whole = fit(baseline, model, original)
    curve = ServiceCurve.around(baseline, model, original.service.service_time, whole.parameters)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    work: list[Resample] = [
        (baseline.resample(rng, block), model, original, whole.parameters, curve) for _ in range(resamples)
    ]
    if jobs > 1 and resamples > 1:
        with ProcessPoolExecutor(max_workers=min(jobs, resamples)) as pool:
            sets = list(pool.map(refit, work))
    else:
        sets = [refit(w) for w in work]

    notes: list[str] = []
    if not whole.store_fitted:
        notes.append("the record has no feature-store latency quantile: featureStore.latency kept")
    if not whole.service_fitted:
        notes.append("the record has no pod request-duration quantile: serviceTime kept")
    profile = original.with_parameters(whole.parameters)
    rate = hit_rate(data)
    if rate is not None:
        profile = replace(profile, cache=replace(profile.cache, hit_rate=round(rate[0], 4)))
    else:
        notes.append(f"the record has fewer than {MIN_LOOKUPS} fallback lookups: cache.hitRate kept")
    lateness = fit_pacing_lateness(data)
    if lateness is not None:
        profile = replace(profile, load=replace(profile.load, pacing_lateness=lateness))
    timing = fit_fault_timing(data)
    if timing is not None:
        profile = replace(profile, fault_timing=timing)
    start_delay = fit_start_delay(data)
    if start_delay is not None:
        profile = replace(profile, load=replace(profile.load, start_delay=start_delay))
    startup = fit_startup(data, original, np.random.default_rng(np.random.SeedSequence([seed, 3])))
    if startup is not None:
        startup_time = rounded_duration(startup.value)
        profile = replace(profile, lifecycle=replace(profile.lifecycle, startup_time=startup_time))
    else:
        notes.append("the record shows no pod coming back from chaos: lifecycle.startupTime kept")

    checks = list(np.random.SeedSequence([seed, 4]).spawn(replications))
    before = _latency(replace(original, calibration=None), model, checks)
    after = _latency(replace(profile, calibration=None), model, checks)
    quality = FitQuality(
        overhead_family=next(iter(whole.families)),
        wasserstein_before=rounded_duration(wasserstein(baseline.latency, before)),
        wasserstein_after=rounded_duration(wasserstein(baseline.latency, after)),
        observed=_quantiles(baseline.latency),
        before=_quantiles(before),
        after=_quantiles(after),
        families={k: rounded_duration(v.wasserstein) for k, v in whole.families.items()},
    )
    section = Calibration(
        run=run,
        experiment=data.experiment.name,
        calibrated=calibrated,
        baseline_requests=baseline.requests,
        resamples=resamples,
        block_length=block,
        seed=seed,
        fit=quality,
        notes=tuple(notes),
        parameter_sets=tuple(sets),
    )
    profile = replace(profile, calibration=section)
    return CalibrationResult(original, profile, whole.families, rate, startup, tuple(notes))


def calibrated_document(original: dict[str, Any], result: CalibrationResult) -> dict[str, Any]:
    """The profile's YAML document `original` with the calibrated fields and section."""
    doc = copy.deepcopy(original)
    spec = doc.setdefault("spec", {})
    p = result.profile
    spec.setdefault("service", {})["serviceTime"] = p.service.service_time.to_document()
    spec.setdefault("featureStore", {})["latency"] = p.feature_store.latency.to_document()
    if p.request_overhead is not None:
        spec["requestOverhead"] = p.request_overhead.to_document()
    if result.hit_rate is not None:
        spec.setdefault("cache", {})["hitRate"] = p.cache.hit_rate
    if result.startup is not None:
        spec.setdefault("lifecycle", {})["startupTime"] = precise_duration(p.lifecycle.startup_time)
    if p.load.pacing_lateness:
        spec.setdefault("load", {})["pacingLateness"] = precise_duration(p.load.pacing_lateness)
    if p.load.start_delay:
        spec.setdefault("load", {})["startDelay"] = precise_duration(p.load.start_delay)
    if p.fault_timing != result.original.fault_timing:
        spec["faultTiming"] = {
            "applyDelay": precise_duration(p.fault_timing.apply_delay),
            "removeDelay": precise_duration(p.fault_timing.remove_delay),
        }
        if p.fault_timing.remove_delays:
            spec["faultTiming"]["removeDelays"] = {
                k: precise_duration(v) for k, v in p.fault_timing.remove_delays.items()
            }
    spec["calibration"] = result.calibration.to_document()
    return doc


def _interval(values: list[float], scale: float = 1000.0, unit: str = " ms") -> str:
    if not values:
        return "-"
    low, high = np.percentile(np.array(values, dtype=float), [5, 95]) * scale
    return f"{low:.4g} - {high:.4g}{unit}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.4g} ms"


def report(result: CalibrationResult) -> list[str]:
    """The fitted values with their bootstrap intervals and the fit quality, as lines of a table."""
    original, p, c = result.original, result.profile, result.calibration
    sets = c.parameter_sets
    overheads = [s.request_overhead for s in sets if s.request_overhead is not None]
    rows = [
        ("parameter", "profile", "calibrated", "90 % interval"),
        (
            "service time mean",
            _ms(original.service.service_time.mean),
            _ms(p.service.service_time.mean),
            _interval([s.service_time.mean for s in sets]),
        ),
        (
            "feature-store latency mean",
            _ms(original.feature_store.latency.mean),
            _ms(p.feature_store.latency.mean),
            _interval([s.store_latency.mean for s in sets]),
        ),
        (
            "request overhead",
            original.request_overhead.describe() if original.request_overhead else "none",
            p.request_overhead.describe() if p.request_overhead else "none",
            _interval([o.mean for o in overheads]),
        ),
        (
            "request overhead cv",
            "",
            f"{p.request_overhead.cv:.3g}" if p.request_overhead else "",
            _interval([o.cv for o in overheads], 1.0, ""),
        ),
    ]
    if result.hit_rate is not None:
        rate, low, high, lookups = result.hit_rate
        rows.append(
            (
                "cache hit rate",
                f"{original.cache.hit_rate:g}",
                f"{rate:.3f} ({lookups} lookups)",
                f"{low:.3f} - {high:.3f}",
            )
        )
    if p.load.pacing_lateness != original.load.pacing_lateness:
        rows.append(
            (
                "pacing lateness per request",
                _ms(original.load.pacing_lateness),
                _ms(p.load.pacing_lateness),
                "",
            )
        )
    if p.load.start_delay != original.load.start_delay:
        rows.append(("load start delay", _ms(original.load.start_delay), _ms(p.load.start_delay), ""))
    for name, before, after in (
        ("fault apply delay", original.fault_timing.apply_delay, p.fault_timing.apply_delay),
        ("fault remove delay", original.fault_timing.remove_delay, p.fault_timing.remove_delay),
        *(
            (f"fault remove delay ({action})", original.fault_timing.remove_delay_of(action), after)
            for action, after in p.fault_timing.remove_delays.items()
        ),
    ):
        if after != before:
            rows.append((name, _ms(before), _ms(after), ""))
    if result.startup is not None:
        s = result.startup
        rows.append(
            (
                "start-up time",
                f"{original.lifecycle.startup_time:g} s",
                f"{s.value:.2f} s ({s.pods} pods)",
                f"{s.low:.2f} - {s.high:.2f} s",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    q = c.fit
    if q is not None:
        o, b, a = q.observed, q.before, q.after
        lines += [
            f"baseline: {c.baseline_requests} requests; {c.resamples} bootstrap resamples "
            f"in blocks of {c.block_length:g} s",
            "Wasserstein distance, simulated vs observed baseline latency: "
            f"{_ms(q.wasserstein_before)} with the profile, {_ms(q.wasserstein_after)} calibrated",
            f"p50 / p95: observed {_ms(o.p50)} / {_ms(o.p95)}; simulated {_ms(b.p50)} / {_ms(b.p95)} "
            f"with the profile, {_ms(a.p50)} / {_ms(a.p95)} calibrated",
            "overhead families (Wasserstein, KS): "
            + "; ".join(f"{k} {_ms(v.wasserstein)}, {v.ks:.4f}" for k, v in result.families.items()),
        ]
    lines += [f"note: {n}" for n in result.notes]
    return lines
