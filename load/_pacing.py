"""When a user starts its next request: the arrival model the simulator uses too.

- closed: constant pacing. A user starts a request every `period` seconds; a response slower than
  the period delays the next request (the next one starts as soon as the slow one ends), as Locust's
  `constant_pacing` does. Load drops when the service slows down: a closed loop.
- poisson: open arrivals. Each user's request starts follow a Poisson process of rate 1/period, so
  all users together make a Poisson stream of rate `rps`. Start times are scheduled independently of
  responses; a user that fell behind (slow responses) starts its overdue requests back to back.
"""

from __future__ import annotations

import random

from load._plan import ARRIVALS


class Pacer:
    """One user's request schedule; pure (the caller passes the times and the random source)."""

    def __init__(self, period: float, arrival: str, rng: random.Random) -> None:
        if period < 0:
            raise ValueError(f"period={period} must be >= 0")
        if arrival not in ARRIVALS:
            raise ValueError(f"arrival={arrival!r} must be one of {ARRIVALS}")
        self.period = period
        self.arrival = arrival
        self._rng = rng
        self._scheduled: float | None = None

    def wait(self, started: float, now: float) -> float:
        """Seconds to wait at `now` after a request that started at `started`."""
        if self.arrival == "closed":
            return max(0.0, started + self.period - now)
        if self._scheduled is None:
            self._scheduled = started
        gap = self._rng.expovariate(1.0 / self.period) if self.period > 0 else 0.0
        self._scheduled += gap
        return max(0.0, self._scheduled - now)
