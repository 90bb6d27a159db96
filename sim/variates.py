"""Random durations drawn in blocks: a `Distribution` (family, mean, cv) as a numpy sampler.

The kernel draws thousands of values at a time and walks the resulting Python list, which is far
cheaper per value than one numpy call per request. Parametrisation by mean and coefficient of
variation (cv = standard deviation / mean):

- constant: always `mean` (also any family with cv = 0 or mean = 0);
- exponential: scale `mean` (cv is 1 by definition, the given cv is ignored);
- lognormal: sigma^2 = ln(1 + cv^2), mu = ln(mean) - sigma^2 / 2;
- gamma: shape 1 / cv^2, scale mean * cv^2;
- weibull: the shape k whose cv is `cv` (chaos.distributions.weibull_shape), scale mean / G(1 + 1/k).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from chaos.distributions import weibull_scale, weibull_shape
from chaos.system import Distribution

Sampler = Callable[[int], list[float]]
BLOCK = 4096


def sampler(dist: Distribution, rng: np.random.Generator) -> Sampler:
    """A function returning `n` independent draws of `dist` as a list of floats."""
    mean, cv = float(dist.mean), float(dist.cv)
    if dist.is_constant:
        return lambda n: [mean] * n
    if dist.kind == "exponential":
        return lambda n: rng.exponential(mean, n).tolist()
    if dist.kind == "lognormal":
        sigma2 = math.log1p(cv * cv)
        mu, sigma = math.log(mean) - sigma2 / 2, math.sqrt(sigma2)
        return lambda n: rng.lognormal(mu, sigma, n).tolist()
    if dist.kind == "gamma":
        shape, scale = 1.0 / (cv * cv), mean * cv * cv
        return lambda n: rng.gamma(shape, scale, n).tolist()
    if dist.kind == "weibull":
        k = weibull_shape(cv)
        lam = weibull_scale(mean, k)
        return lambda n: (lam * rng.weibull(k, n)).tolist()
    raise ValueError(f"kind={dist.kind!r} is not a known distribution")


def uniforms(rng: np.random.Generator) -> Sampler:
    """Uniform draws in [0, 1)."""
    return lambda n: rng.random(n).tolist()


class Stream:
    """One value at a time from a block sampler (the convenient, slower interface)."""

    def __init__(self, draw: Sampler, block: int = BLOCK) -> None:
        self._draw = draw
        self._block = block
        self._values: list[float] = []
        self._next = 0

    def __call__(self) -> float:
        if self._next >= len(self._values):
            self._values = self._draw(self._block)
            self._next = 0
        value = self._values[self._next]
        self._next += 1
        return value
