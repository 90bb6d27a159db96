"""A system profile's `calibration` section: where its fitted values came from, and their spread.

`sim calibrate RUN_DIR` (analysis/calibration.py) fits what a profile cannot know beforehand from a
run's baseline and writes the profile back with this section:

    calibration:
      run: runs/network-latency-20261201T120000Z   # the run record it was fitted on
      experiment: network-latency
      calibrated: "2026-12-01T12:30:00+00:00"
      baselineRequests: 23987
      resamples: 20                                 # bootstrap resamples of the baseline ...
      blockLength: 10s                              # ... in blocks of this many seconds
      seed: 0
      fit:                                          # how well the simulated baseline matches the run
        overheadFamily: lognormal
        wassersteinBefore: 3.1ms                    # the profile as it was
        wassersteinAfter: 0.21ms                    # the calibrated profile
        families: {lognormal: 0.2ms, gamma: 0.24ms} # each candidate overhead family's best distance
        observed: {p50: 35.1ms, p95: 57ms}
        before: {p50: 31.7ms, p95: 49.6ms}
        after: {p50: 35ms, p95: 56.8ms}
      notes: [the record has no feature-store latency series; featureStore.latency kept]
      parameterSets:                                # one refit per bootstrap resample
        - serviceTime: {distribution: lognormal, mean: 31.2ms, cv: 0.3}
          featureStoreLatency: {distribution: lognormal, mean: 2.9ms, cv: 0.5}
          requestOverhead: {distribution: lognormal, mean: 3.1ms, cv: 0.85}

The simulator's Monte Carlo gives replication i parameter set i mod n, so a prediction's interval
carries the parameters' uncertainty as well as the run-to-run noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaos.distributions import DISTRIBUTIONS, Distribution, parse_distribution
from chaos.durations import precise_duration
from chaos.fields import Fields


@dataclass(frozen=True)
class ParameterSet:
    """The fitted distributions of one bootstrap resample."""

    service_time: Distribution
    store_latency: Distribution
    request_overhead: Distribution | None = None

    def to_document(self) -> dict[str, Any]:
        doc = {
            "serviceTime": self.service_time.to_document(),
            "featureStoreLatency": self.store_latency.to_document(),
        }
        if self.request_overhead is not None:
            doc["requestOverhead"] = self.request_overhead.to_document()
        return doc


@dataclass(frozen=True)
class Quantiles:
    """Successful requests' latency median and 95th percentile (seconds)."""

    p50: float
    p95: float

    def to_document(self) -> dict[str, str]:
        return {"p50": precise_duration(self.p50), "p95": precise_duration(self.p95)}


@dataclass(frozen=True)
class FitQuality:
    """How the simulated baseline latency compares with the observed one, before and after."""

    overhead_family: str
    wasserstein_before: float
    wasserstein_after: float
    observed: Quantiles
    before: Quantiles
    after: Quantiles
    families: dict[str, float] = field(default_factory=dict)
    """The smallest Wasserstein distance each candidate overhead family reached (seconds)."""

    def to_document(self) -> dict[str, Any]:
        return {
            **({"overheadFamily": self.overhead_family} if self.overhead_family else {}),
            "wassersteinBefore": precise_duration(self.wasserstein_before),
            "wassersteinAfter": precise_duration(self.wasserstein_after),
            "families": {k: precise_duration(v) for k, v in self.families.items()},
            "observed": self.observed.to_document(),
            "before": self.before.to_document(),
            "after": self.after.to_document(),
        }


@dataclass(frozen=True)
class Calibration:
    """Provenance of a calibrated profile and the bootstrap parameter sets."""

    run: str = ""
    experiment: str = ""
    calibrated: str = ""
    baseline_requests: int = 0
    resamples: int = 0
    block_length: float = 0.0
    seed: int = 0
    fit: FitQuality | None = None
    notes: tuple[str, ...] = ()
    parameter_sets: tuple[ParameterSet, ...] = ()

    def to_document(self) -> dict[str, Any]:
        named = {"run": self.run, "experiment": self.experiment, "calibrated": self.calibrated}
        doc: dict[str, Any] = {
            **{k: v for k, v in named.items() if v},
            "baselineRequests": self.baseline_requests,
            "resamples": self.resamples,
            "blockLength": precise_duration(self.block_length),
            "seed": self.seed,
        }
        if self.fit is not None:
            doc["fit"] = self.fit.to_document()
        if self.notes:
            doc["notes"] = list(self.notes)
        doc["parameterSets"] = [p.to_document() for p in self.parameter_sets]
        return doc


def parse_calibration(f: Fields) -> Calibration:
    calibration = Calibration(
        run=f.text("run", default=""),
        experiment=f.text("experiment", default=""),
        calibrated=f.text("calibrated", default=""),
        baseline_requests=f.integer("baselineRequests", default=0, minimum=0),
        resamples=f.integer("resamples", default=0, minimum=0),
        block_length=f.duration("blockLength", default="0s"),
        seed=f.integer("seed", default=0, minimum=0),
        fit=_fit(f.section("fit")) if f.has("fit") else None,
        notes=tuple(f.strings("notes", default=[])),
        parameter_sets=tuple(_parameter_set(item) for item in f.items("parameterSets", default=[])),
    )
    f.finish()
    return calibration


def _parameter_set(f: Fields) -> ParameterSet:
    overhead = parse_distribution(f.section("requestOverhead")) if f.has("requestOverhead") else None
    p = ParameterSet(
        service_time=parse_distribution(f.section("serviceTime")),
        store_latency=parse_distribution(f.section("featureStoreLatency")),
        request_overhead=overhead,
    )
    f.finish()
    return p


def _quantiles(f: Fields) -> Quantiles:
    q = Quantiles(p50=f.duration("p50"), p95=f.duration("p95"))
    f.finish()
    return q


def _fit(f: Fields) -> FitQuality:
    families = f.section("families", required=False)
    found = {}
    for name in list(families.data):
        if name not in DISTRIBUTIONS:
            families.problem(str(name), None, f"must be one of {', '.join(DISTRIBUTIONS)}")
            families.consume(str(name))
            continue
        found[str(name)] = families.duration(str(name))
    families.finish()
    fit = FitQuality(
        overhead_family=f.text("overheadFamily", default="", choices=DISTRIBUTIONS),
        wasserstein_before=f.duration("wassersteinBefore"),
        wasserstein_after=f.duration("wassersteinAfter"),
        observed=_quantiles(f.section("observed")),
        before=_quantiles(f.section("before")),
        after=_quantiles(f.section("after")),
        families=found,
    )
    f.finish()
    return fit
