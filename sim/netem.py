"""Network faults on feature-store calls as netem makes them: delay with jitter, loss, correlation.

Delay: `latency + jitter * z`, clipped at zero, where z is a standard normal AR(1) sequence over
successive calls, z[i] = rho * z[i-1] + sqrt(1 - rho^2) * e[i]: the correlation couples successive
draws while every draw keeps the normal(latency, jitter) marginal (netem's own correlation shrinks
the spread; the testbed's fault proxy draws the same way as this module).

Loss: a two-state Markov chain over successive calls with stationary drop probability `loss` and
lag-one correlation `rho`: P(drop | previous dropped) = loss + rho (1 - loss) and
P(drop | previous delivered) = loss (1 - rho). rho = 0 gives independent drops.
"""

from __future__ import annotations

import math

import numpy as np

from sim.variates import BLOCK


class DelayDraws:
    """Blocks of injected delays (seconds) for successive calls under one delay fault."""

    def __init__(self, latency: float, jitter: float, correlation: float, rng: np.random.Generator) -> None:
        self.latency, self.jitter, self.rho = latency, jitter, correlation
        self._rng = rng
        self._z = float(rng.standard_normal())  # the draw before the first call, from the marginal

    def __call__(self, n: int = BLOCK) -> list[float]:
        if self.jitter == 0:
            return [self.latency] * n
        rho = self.rho
        scale = math.sqrt(1.0 - rho * rho)
        z, out = self._z, []
        latency, jitter = self.latency, self.jitter
        for e in self._rng.standard_normal(n).tolist():
            z = rho * z + scale * e
            delay = latency + jitter * z
            out.append(delay if delay > 0.0 else 0.0)
        self._z = z
        return out


class LossDraws:
    """Blocks of drop decisions (True = dropped) for successive calls under one loss fault."""

    def __init__(self, loss: float, correlation: float, rng: np.random.Generator) -> None:
        self.loss, self.rho = loss, correlation
        self._rng = rng
        self._last = bool(rng.random() < loss)  # the call before the first, drawn from the steady state

    def __call__(self, n: int = BLOCK) -> list[bool]:
        p, rho = self.loss, self.rho
        if p >= 1.0:
            return [True] * n
        if rho == 0.0:
            return (self._rng.random(n) < p).tolist()  # type: ignore[no-any-return]
        stay_dropped = p + rho * (1.0 - p)
        stay_delivered = 1.0 - p * (1.0 - rho)
        last = self._last
        state = last if self._rng.random() < (stay_dropped if last else stay_delivered) else not last
        out: list[bool] = []
        while len(out) < n:
            stay = stay_dropped if state else stay_delivered
            run = int(self._rng.geometric(1.0 - stay)) if stay < 1.0 else n
            out.extend([state] * run)
            state = not state
        del out[n:]
        self._last = out[-1]
        return out
