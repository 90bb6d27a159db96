"""A positive random duration by family, mean and coefficient of variation, as profiles write it.

    serviceTime: {distribution: lognormal, mean: 30ms, cv: 0.3}

Families: constant, exponential (cv is 1 by definition), lognormal, gamma and weibull. What each
means in terms of its usual parameters is in sim/variates.py; the Weibull shape for a cv is the one
thing both the simulator and the service's emulation need, so it lives here (`weibull_shape`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from chaos.durations import precise_duration, rounded_duration
from chaos.fields import Fields

DISTRIBUTIONS = ("constant", "exponential", "lognormal", "gamma", "weibull")
WEIBULL_SHAPES = (0.05, 500.0)
"""The Weibull shapes `weibull_shape` searches (cv from about 1e3 down to about 0.003)."""


@dataclass(frozen=True)
class Distribution:
    """A positive random duration by family, mean (seconds) and coefficient of variation."""

    kind: str = "lognormal"
    mean: float = 0.03
    cv: float = 0.3

    def __post_init__(self) -> None:
        if self.kind not in DISTRIBUTIONS:
            raise ValueError(f"kind={self.kind!r} must be one of {DISTRIBUTIONS}")
        if self.mean < 0 or not math.isfinite(self.mean):
            raise ValueError(f"mean={self.mean} must be >= 0")
        if self.cv < 0 or not math.isfinite(self.cv):
            raise ValueError(f"cv={self.cv} must be >= 0")

    @property
    def is_constant(self) -> bool:
        """Always `mean`: the constant family, a zero mean, or a zero cv (except the exponential)."""
        return self.kind == "constant" or self.mean == 0 or (self.cv == 0 and self.kind != "exponential")

    def to_document(self) -> dict[str, Any]:
        """The profile's form of this distribution (what `parse_distribution` reads back)."""
        cv = 1.0 if self.kind == "exponential" else self.cv
        return {"distribution": self.kind, "mean": precise_duration(self.mean), "cv": round(cv, 4)}

    def rounded(self) -> Distribution:
        """This distribution as its profile document keeps it (mean to the microsecond, cv to 4 places)."""
        cv = 1.0 if self.kind == "exponential" else round(self.cv, 4)
        return Distribution(self.kind, rounded_duration(self.mean), cv)

    def describe(self) -> str:
        """`lognormal 3.1 ms cv 0.85`: short, for tables."""
        if self.is_constant:
            return f"constant {self.mean * 1000:.3g} ms"
        return f"{self.kind} {self.mean * 1000:.3g} ms cv {self.cv:.2f}"


def parse_distribution(f: Fields) -> Distribution:
    kind = f.text("distribution", default="lognormal", choices=DISTRIBUTIONS)
    mean = f.duration("mean")
    cv = f.number("cv", default=0.0, minimum=0.0, maximum=10.0)
    f.finish()
    if kind not in DISTRIBUTIONS:
        kind = "constant"
    return Distribution(kind, mean, cv)


def weibull_cv(shape: float) -> float:
    """The coefficient of variation of a Weibull distribution of shape k: sqrt(G(1+2/k)/G(1+1/k)^2 - 1)."""
    return math.sqrt(math.expm1(math.lgamma(1 + 2 / shape) - 2 * math.lgamma(1 + 1 / shape)))


def weibull_shape(cv: float) -> float:
    """The Weibull shape k whose cv is `cv` (cv falls as k grows; bisection on log k)."""
    if cv <= 0:
        raise ValueError(f"cv={cv} must be > 0")
    lo, hi = (math.log(s) for s in WEIBULL_SHAPES)
    if cv >= weibull_cv(WEIBULL_SHAPES[0]):
        return WEIBULL_SHAPES[0]
    if cv <= weibull_cv(WEIBULL_SHAPES[1]):
        return WEIBULL_SHAPES[1]
    for _ in range(80):
        mid = (lo + hi) / 2
        if weibull_cv(math.exp(mid)) > cv:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def weibull_scale(mean: float, shape: float) -> float:
    """The Weibull scale for a mean: mean / G(1 + 1/k)."""
    return mean / math.exp(math.lgamma(1 + 1 / shape))
