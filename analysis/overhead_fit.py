"""Fitting the request overhead: the distribution that, added to the simulated pods' answers, makes
the simulated client latency look like the observed one.

The overhead happens outside the pods (HTTP, the load balancer, the client's own process), so it does
not change what the pods do: the simulated pods' latencies are computed once and every candidate
overhead is added to them as draws `ppf(u)` of fixed uniforms `u` (common random numbers: the
objective is then a smooth function of the parameters, not a noisy one). For each candidate family
(constant, exponential, lognormal, gamma, weibull: scipy.stats' own) the mean and cv are chosen by
Nelder-Mead to minimise the 1-Wasserstein distance to the observed latencies (scipy.stats.
wasserstein_distance), and the family with the smallest distance wins. The 1-Wasserstein distance
is the mean over quantile levels of |observed quantile - simulated quantile|: it is in seconds,
weighs the body and the tail of the distribution alike, and needs no binning.

For speed the search evaluates it on a grid of `LEVELS` quantile levels (`QuantileDistance`; the
observed quantiles are computed once) and draws the lognormal, exponential and Weibull overheads in
closed form from the uniforms; the reported distances are scipy's exact ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from chaos.distributions import Distribution, weibull_scale, weibull_shape

FAMILIES = ("lognormal", "gamma", "weibull", "exponential", "constant")
"""Candidate overhead families, in the order a tie is broken (the first wins)."""
MIN_MEAN = 1e-5
MAX_CV = 5.0
LEVELS = 4096


def frozen(dist: Distribution) -> Any | None:
    """`dist` as a scipy.stats frozen distribution (None for a constant)."""
    mean, cv = dist.mean, dist.cv
    if dist.is_constant:
        return None
    if dist.kind == "exponential":
        return stats.expon(scale=mean)
    if dist.kind == "lognormal":
        sigma2 = math.log1p(cv * cv)
        return stats.lognorm(math.sqrt(sigma2), scale=math.exp(math.log(mean) - sigma2 / 2))
    if dist.kind == "gamma":
        return stats.gamma(1.0 / (cv * cv), scale=mean * cv * cv)
    if dist.kind == "weibull":
        shape = weibull_shape(cv)
        return stats.weibull_min(shape, scale=weibull_scale(mean, shape))
    raise ValueError(f"kind={dist.kind!r} is not a known distribution")


def cdf(dist: Distribution, x: np.ndarray) -> np.ndarray:
    f = frozen(dist)
    if f is None:
        return (x >= dist.mean).astype(float)
    return np.asarray(f.cdf(x), dtype=float)


def ppf(dist: Distribution, u: np.ndarray) -> np.ndarray:
    """Quantiles of `dist` at levels `u` (draws, when `u` are uniform draws)."""
    mean, cv = dist.mean, dist.cv
    if dist.is_constant:
        return np.full(len(u), mean)
    if dist.kind == "exponential":
        return np.asarray(-mean * np.log1p(-u), dtype=float)
    if dist.kind == "lognormal":
        sigma2 = math.log1p(cv * cv)
        return np.asarray(np.exp(math.log(mean) - sigma2 / 2 + math.sqrt(sigma2) * special.ndtri(u)))
    if dist.kind == "weibull":
        shape = weibull_shape(cv)
        return np.asarray(weibull_scale(mean, shape) * (-np.log1p(-u)) ** (1 / shape), dtype=float)
    f = frozen(dist)
    assert f is not None
    return np.asarray(f.ppf(u), dtype=float)


class QuantileDistance:
    """The 1-Wasserstein distance to a fixed sample, on a grid of quantile levels (fast, close)."""

    def __init__(self, observed: np.ndarray, levels: int = LEVELS) -> None:
        self.levels = (np.arange(levels) + 0.5) / levels
        self.observed = np.quantile(observed, self.levels)

    def __call__(self, simulated: np.ndarray) -> float:
        ordered = np.sort(simulated)
        index = np.minimum((self.levels * len(ordered)).astype(np.int64), len(ordered) - 1)
        return float(np.mean(np.abs(ordered[index] - self.observed)))


@dataclass(frozen=True)
class FamilyFit:
    distribution: Distribution
    wasserstein: float
    ks: float
    """Kolmogorov-Smirnov distance of the same fit (scipy.stats.ks_2samp's statistic), for reference."""


def wasserstein(observed: np.ndarray, simulated: np.ndarray) -> float:
    return float(stats.wasserstein_distance(observed, simulated))


def _distribution(family: str, x: np.ndarray) -> Distribution:
    mean = max(MIN_MEAN, math.exp(float(x[0])))
    cv = 1.0 if family == "exponential" else 0.0 if family == "constant" else math.exp(float(x[1]))
    return Distribution(family, mean, min(cv, MAX_CV))


def fit_family(
    family: str,
    observed: np.ndarray,
    pods: np.ndarray,
    u: np.ndarray,
    start: Distribution | None = None,
) -> FamilyFit:
    """The overhead of `family` whose draws `ppf(u)` added to `pods` come closest to `observed`."""
    gap = float(np.mean(observed) - np.mean(pods))
    if start is not None and start.mean > MIN_MEAN:
        mean0, cvs = start.mean, [max(start.cv, 0.05)]
    else:
        mean0, cvs = max(gap, 1e-4), [0.4, 1.2]

    distance = QuantileDistance(observed)
    if family == "gamma":  # scipy's gamma ppf is slow: take it on a grid of levels, interpolated
        grid = special.expit(np.linspace(-16.0, 16.0, 2049))
        logit_u = special.logit(u)

        def draws(d: Distribution) -> np.ndarray:
            return np.asarray(np.interp(logit_u, special.logit(grid), ppf(d, grid)), dtype=float)
    else:

        def draws(d: Distribution) -> np.ndarray:
            return ppf(d, u)

    def loss(x: np.ndarray) -> float:
        return distance(pods + draws(_distribution(family, x)))

    best: Any = None
    starts = (
        [[math.log(mean0)]]
        if family in ("constant", "exponential")
        else [[math.log(mean0), math.log(cv)] for cv in cvs]
    )
    for x0 in starts:
        result = optimize.minimize(
            loss, np.array(x0), method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-7, "maxiter": 400}
        )
        if best is None or result.fun < best.fun:
            best = result
    dist = _distribution(family, best.x)
    simulated = pods + ppf(dist, u)
    ks = float(stats.ks_2samp(observed, simulated).statistic)
    return FamilyFit(dist, wasserstein(observed, simulated), ks)


def fit_overhead(
    observed: np.ndarray, pods: np.ndarray, u: np.ndarray, families: tuple[str, ...] = FAMILIES
) -> dict[str, FamilyFit]:
    """Every candidate family's best fit, best first."""
    fits = {family: fit_family(family, observed, pods, u) for family in families}
    order = sorted(fits, key=lambda k: (round(fits[k].wasserstein, 9), families.index(k)))
    return {k: fits[k] for k in order}
