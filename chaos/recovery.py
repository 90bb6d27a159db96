"""Time to recover: how long after the last fault ends the service is back to its steady state.

Definition (seconds, resolution one second):
- the baseline level L is the availability of every request sent in the whole seconds before the
  first fault starts (1.0 when there are none);
- a second is healthy when nothing was sent in it or its availability is at least
  L - `TOLERANCE` (one percentage point, so that one unlucky request does not count as an outage);
- availability is back at the first second, from the one the last fault ends in, that starts
  `STABLE_SECONDS` healthy seconds in a row (or healthy seconds up to the end of the run, when fewer
  remain): a steady state has to hold for a while, yet a lone noisy second long after the fault
  does not undo a recovery;
- ready pods are back from the last moment their count changed, if it then held every replica
  (else never), or from the last pod created or deleted (`settled`), if later: a rolling update
  (a rollout's rollback) keeps the count while it swaps pods, and is over when the last old pod
  goes;
- the service has recovered at the later of the two; recovery_time is that moment minus the end of
  the last fault (never negative). None when either condition is never met before the run ends, or
  when the scenario has no fault that ends before the run does.

A run knows the ready pods only from the runner's samples, one every `SAMPLE_PERIOD` from its start,
so a pod ready at 105.2 s counts from the 106 s sample; the simulator's exact ready times go
through `as_sampled` first, so that both sides measure the same way.
"""

from __future__ import annotations

import math

import numpy as np

TOLERANCE = 0.01
STABLE_SECONDS = 5
SAMPLE_PERIOD = 1.0
"""Seconds between two of the runner's samples (ready pods, records, abort conditions), from the
run's start."""


def as_sampled(times: np.ndarray, period: float = SAMPLE_PERIOD) -> np.ndarray:
    """When a sampler ticking at k * `period` from the run's start first sees changes at `times`."""
    return np.ceil(np.asarray(times, dtype=float) / period - 1e-9) * period


def baseline_level(requests: np.ndarray, successes: np.ndarray, fault_start: float) -> float:
    """Availability over the whole seconds before the first fault (1.0 without such requests)."""
    before = math.floor(fault_start)
    sent = int(requests[:before].sum())
    return float(successes[:before].sum()) / sent if sent else 1.0


def recovery_time(
    requests: np.ndarray,
    successes: np.ndarray,
    ready_times: np.ndarray,
    ready_counts: np.ndarray,
    replicas: int,
    fault_start: float,
    fault_end: float,
    horizon: float,
    settled: float | None = None,
) -> float | None:
    """Seconds from `fault_end` until the service is back to steady state (see module doc);
    `settled`: when the last pod was created or deleted (None: not known, the ready count says)."""
    whole = math.floor(horizon)
    if fault_end >= horizon or whole == 0:
        return None
    if int(ready_counts[-1]) != replicas:
        return None
    ready_at = max(float(ready_times[-1]), fault_end, settled if settled is not None else fault_end)
    level = baseline_level(requests, successes, fault_start) - TOLERANCE
    first = math.floor(fault_end)
    sent, ok = requests[first:whole], successes[first:whole]
    with np.errstate(invalid="ignore", divide="ignore"):
        healthy = (sent == 0) | (ok >= level * sent)
    back = _stable_from(healthy)
    if back is None:
        return None
    return max(0.0, max(ready_at, float(first + back)) - fault_end)


def _stable_from(healthy: np.ndarray) -> int | None:
    """Index of the first healthy second that starts STABLE_SECONDS healthy ones (or runs to the end)."""
    run = 0
    start: int | None = None
    for index in range(len(healthy) - 1, -1, -1):  # run = healthy seconds from index onwards
        run = run + 1 if healthy[index] else 0
        if run and (run >= STABLE_SECONDS or index + run == len(healthy)):
            start = index
    return start
