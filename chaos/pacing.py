"""Where closed-loop users sit in their pacing period: one rule for the load generator and the simulator.

The `n`-th user a load process starts gets the phase frac(n * g) of the period, g the golden ratio's
fractional part. For every number of users these points are spread evenly over [0, 1) (the
three-distance theorem: at most three gap sizes, within a factor of about 2.6 of each other), and
users added later (a phase with more users) fall between the existing ones instead of on them.

A user's requests start on its grid, at (k + phase) * period on the load process' monotonic clock;
the first one at the first grid point at or after the user is started (`first_start`). That clock
has no relation to the moment a run starts, so seen from the run the whole grid sits at a shift
that differs from run to run: the simulator draws it per replication (uniform over one period).
load/_pacing.py repeats this rule (the load package runs alone in the Locust image);
tests/load/test_pacing.py keeps the two equal.
"""

from __future__ import annotations

import math

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def user_phase(n: int, offset: float = 0.0) -> float:
    """The pacing phase in [0, 1) of the `n`-th user (`offset`: a whole load process' shift)."""
    if n < 0:
        raise ValueError(f"n={n} must be >= 0")
    return (n * GOLDEN + offset) % 1.0


def first_start(phase: float, period: float, now: float) -> float:
    """When a closed-loop user started at `now` sends its first request: its next grid point."""
    if period <= 0:
        return now
    return max(now, (math.ceil(now / period - phase) + phase) * period)
