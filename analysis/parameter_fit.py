"""Steps 1-3 of calibration on one baseline (analysis/calibration.py says what and why): the
feature-store latency, the model service time and the request overhead.

`BaselineModel` is the run's baseline as the simulator plays it (the profile without any overhead,
seeded): every candidate is simulated on the same seeds, so the candidates differ only by what they
change (common random numbers), and a bootstrap resample's spread is the data's, not the
simulator's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize

from analysis.baseline import REQUEST_HISTOGRAM, STORE_HISTOGRAM, Baseline, cdf_histogram_quantile
from analysis.baseline import sample_histogram_quantile as bucketed
from analysis.overhead_fit import FAMILIES, FamilyFit, cdf, fit_family, fit_overhead
from analysis.record import RunData
from chaos.calibration import ParameterSet
from chaos.distributions import Distribution
from chaos.system import SystemProfile
from sim.replication import simulate
from sim.scenario import Phase, Scenario

SCALES = (0.2, 5.0)
"""The service-time scales (of the profile's) the whole baseline's fit searches."""
CURVE_SPAN, CURVE_POINTS = 0.15, 9
"""A resample's service time is read off 9 simulated scales within +/-15 % (log) of the whole fit's."""

Target = tuple[float, float, tuple[float, ...]]
"""A recorded quantile: level, value over the baseline, the histogram's bucket bounds."""


@dataclass(frozen=True)
class BaselineModel:
    """The run's baseline as the simulator plays it: the profile without overhead, seeded."""

    profile: SystemProfile
    scenario: Scenario
    seeds: tuple[np.random.SeedSequence, ...]
    uniforms: int

    def pods(self, service: Distribution, store: Distribution) -> tuple[np.ndarray, np.ndarray]:
        """Every simulated attempt's latency at the pods, and which succeeded."""
        prof = replace(
            self.profile,
            service=replace(self.profile.service, service_time=service),
            feature_store=replace(self.profile.feature_store, latency=store),
        )
        traces = [simulate(prof, self.scenario, np.random.default_rng(s)) for s in self.seeds]
        return np.concatenate([t.latency for t in traces]), np.concatenate([t.ok for t in traces])

    def u(self, n: int) -> np.ndarray:
        """The overhead's fixed uniforms (the same first `n` for every call)."""
        return np.random.default_rng(self.uniforms).random(n)


def baseline_model(profile: SystemProfile, data: RunData, seed: int, replications: int) -> BaselineModel:
    experiment = data.experiment
    scenario = Scenario(
        phases=(Phase("baseline", 0.0, float(experiment.phases.baseline)),),
        load=experiment.load,
        model_chaos=profile.model_chaos.enabled,
    )
    bare = replace(profile, request_overhead=None, calibration=None)
    seeds = tuple(np.random.SeedSequence([seed, 1]).spawn(replications))
    return BaselineModel(bare, scenario, seeds, seed)


def _targets(baseline: Baseline, histogram: str) -> list[Target]:
    found = [(s.level, s.value(), s.buckets) for s in baseline.quantiles(histogram)]
    return [(q, float(v), b) for q, v, b in found if v is not None and v > 0]


def _relative_error(model: list[float], targets: list[Target]) -> float:
    return sum(((m - v) / v) ** 2 for m, (_, v, _) in zip(model, targets, strict=True))


def fit_store(baseline: Baseline, prior: Distribution) -> Distribution | None:
    """The store latency's mean that gives the recorded quantile(s); None without a series."""
    targets = _targets(baseline, STORE_HISTOGRAM)
    if not targets:
        return None

    def loss(log_mean: float) -> float:
        d = replace(prior, mean=math.exp(log_mean))
        found = [cdf_histogram_quantile(q, b, lambda x: cdf(d, x)) for q, _, b in targets]
        return _relative_error(found, targets)

    guess = math.log(targets[0][1])
    best = optimize.minimize_scalar(loss, bounds=(guess - 5, guess + 2), method="bounded")
    return replace(prior, mean=math.exp(float(best.x)))


def _pod_quantiles(
    model: BaselineModel, prior: Distribution, store: Distribution, scale: float, targets: list[Target]
) -> list[float]:
    latency, _ = model.pods(replace(prior, mean=prior.mean * scale), store)
    return [bucketed(q, b, latency) for q, _, b in targets]


def fit_service(
    baseline: Baseline, model: BaselineModel, prior: Distribution, store: Distribution
) -> Distribution | None:
    """The service time, scaled so that the simulated pods give the recorded quantile(s)."""
    targets = _targets(baseline, REQUEST_HISTOGRAM)
    if not targets or prior.mean <= 0:
        return None

    def loss(log_scale: float) -> float:
        return _relative_error(_pod_quantiles(model, prior, store, math.exp(log_scale), targets), targets)

    lo, hi = (math.log(s) for s in SCALES)
    best = optimize.minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    return replace(prior, mean=prior.mean * math.exp(float(best.x)))


@dataclass(frozen=True)
class ServiceCurve:
    """The simulated pods' recorded quantile(s) over service-time scales around the whole fit's, with
    the whole fit's store latency: a resample's service time is read off it, not searched again
    (the store latency's own resample-to-resample change, a fraction of a percent, is left out)."""

    prior: Distribution
    scales: np.ndarray
    quantiles: np.ndarray
    """One row per scale, one column per recorded level."""

    @classmethod
    def around(
        cls, baseline: Baseline, model: BaselineModel, prior: Distribution, whole: ParameterSet
    ) -> ServiceCurve | None:
        targets = _targets(baseline, REQUEST_HISTOGRAM)
        if not targets or prior.mean <= 0:
            return None
        center = whole.service_time.mean / prior.mean
        scales = center * np.exp(np.linspace(-CURVE_SPAN, CURVE_SPAN, CURVE_POINTS))
        rows = [_pod_quantiles(model, prior, whole.store_latency, float(k), targets) for k in scales]
        return cls(prior, scales, np.array(rows, dtype=float))

    def fit(self, baseline: Baseline) -> Distribution | None:
        targets = np.array([v for _, v, _ in _targets(baseline, REQUEST_HISTOGRAM)], dtype=float)
        if len(targets) != self.quantiles.shape[1]:
            return None
        fine = np.exp(np.linspace(math.log(self.scales[0]), math.log(self.scales[-1]), 2001))
        curve = np.column_stack([np.interp(fine, self.scales, col) for col in self.quantiles.T])
        loss = (((curve - targets) / targets) ** 2).sum(axis=1)
        return replace(self.prior, mean=self.prior.mean * float(fine[int(np.argmin(loss))]))


@dataclass(frozen=True)
class Fit:
    parameters: ParameterSet
    families: dict[str, FamilyFit]
    """Each candidate overhead family's best fit, best first (only the resampled family on a resample)."""
    store_fitted: bool
    service_fitted: bool


def fit(
    baseline: Baseline,
    model: BaselineModel,
    prior: SystemProfile,
    families: tuple[str, ...] = FAMILIES,
    around: ParameterSet | None = None,
    curve: ServiceCurve | None = None,
) -> Fit:
    """Steps 1-3 on one baseline: the whole one, or a resample `around` the whole one's fit (the
    overhead then within its family, starting from its values; the service time off `curve`)."""
    store = fit_store(baseline, prior.feature_store.latency)
    store_d = store or prior.feature_store.latency
    prior_service = prior.service.service_time
    if around is None:
        service = fit_service(baseline, model, prior_service, store_d)
    else:
        service = curve.fit(baseline) if curve is not None else None
    service_d = service or prior_service
    latency, ok = model.pods(service_d, store_d)
    pods = latency[ok]
    u = model.u(len(pods))
    if around is not None and around.request_overhead is not None:
        start = around.request_overhead
        fits = {start.kind: fit_family(start.kind, baseline.latency, pods, u, start)}
    else:
        fits = fit_overhead(baseline.latency, pods, u, families)
    best = next(iter(fits.values()))
    parameters = ParameterSet(service_d.rounded(), store_d.rounded(), best.distribution.rounded())
    return Fit(parameters, fits, store is not None, service is not None)


Resample = tuple[Baseline, BaselineModel, SystemProfile, ParameterSet, ServiceCurve | None]


def refit(work: Resample) -> ParameterSet:
    """One bootstrap resample's parameter set (a process pool's unit of work)."""
    baseline, model, prior, around, curve = work
    return fit(baseline, model, prior, around=around, curve=curve).parameters
