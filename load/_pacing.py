"""When a user starts its next request: the arrival model the simulator uses too.

- closed: constant pacing on a fixed grid. A user starts a request every `period` seconds, at
  `(k + phase) * period` on the process' monotonic clock; a response slower than the period delays
  the next request (the next one starts as soon as the slow one ends, and the grid moves there).
  Load drops when the service slows down: a closed loop.
- poisson: open arrivals. Each user's request starts follow a Poisson process of rate 1/period, so
  all users together make a Poisson stream of rate `rps`. Start times are scheduled independently of
  responses; a user that fell behind (slow responses) starts its overdue requests back to back.

Why a grid rather than Locust's own `constant_pacing` (the next start one period after the last
*actual* start): with that rule a late wake-up shifts every later request of the user, and when the
event loop wakes several users in one pass (gevent fires every expired timer of an iteration
together) their actual starts coincide and they stay together for the rest of the run. Users then
merge into a few clumps that send at the same instant; on the testbed 40 users made about four
clumps within the first 30 s, 82 % of the gaps between request starts were under 1 ms, and a clump
of ten requests on seven pods queued behind the model slots (the seed pod-failure's p50 went from
37 to 52 ms with the load unchanged). On the grid a late start delays that request only, so users
keep the phases they were given. Phases follow the golden-ratio sequence (`user_phase`), evenly
spread for any number of users and for users added later; the simulator places its users the same
way.
"""

from __future__ import annotations

import math
import random

from load._plan import ARRIVALS

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def user_phase(n: int, offset: float = 0.0) -> float:
    """The pacing phase in [0, 1) of the `n`-th user a load process starts (`offset`: the process').

    The same rule as `chaos.pacing.user_phase`, which the simulator uses; it is repeated here because
    the load package runs alone in the Locust image (load/Dockerfile), and a test keeps the two equal."""
    if n < 0:
        raise ValueError(f"n={n} must be >= 0")
    return (n * GOLDEN + offset) % 1.0


def first_start(phase: float, period: float, now: float) -> float:
    """When a closed-loop user started at `now` sends its first request: its next grid point (the
    same rule as `chaos.pacing.first_start`)."""
    if period <= 0:
        return now
    return max(now, (math.ceil(now / period - phase) + phase) * period)


class Pacer:
    """One user's request schedule; pure (the caller passes the times and the random source)."""

    def __init__(self, period: float, arrival: str, rng: random.Random, phase: float = 0.0) -> None:
        if period < 0:
            raise ValueError(f"period={period} must be >= 0")
        if arrival not in ARRIVALS:
            raise ValueError(f"arrival={arrival!r} must be one of {ARRIVALS}")
        if not 0.0 <= phase < 1.0:
            raise ValueError(f"phase={phase} must be in [0, 1)")
        self.period = period
        self.arrival = arrival
        self.phase = phase
        self._rng = rng
        self._scheduled: float | None = None

    def first(self, now: float) -> float:
        """Seconds to wait at `now` before the user's first request: closed, to its next grid point."""
        if self.arrival != "closed" or self.period == 0:
            return 0.0
        self._scheduled = first_start(self.phase, self.period, now)
        return self._scheduled - now

    def wait(self, started: float, now: float) -> float:
        """Seconds to wait at `now` after a request that started at `started`."""
        if self._scheduled is None:
            self._scheduled = started
        if self.arrival == "closed":
            self._scheduled = max(self._scheduled + self.period, now)
            return self._scheduled - now
        gap = self._rng.expovariate(1.0 / self.period) if self.period > 0 else 0.0
        self._scheduled += gap
        return max(0.0, self._scheduled - now)
