"""What the pods' /metrics would have counted in one replication, per second of the run.

The service counts a /predict request when a pod answers it (service/app.py): its outcome
(`mlservice_requests_total`), its duration (`mlservice_request_duration_seconds`, every outcome) and,
for an answered prediction served through a fallback, `mlservice_fallbacks_total`. So these counts
bin the requests a pod answered by the second the answer left (`end`), not the second they were
sent: successes, 503 overload and 504 timeouts. Requests no pod answered (refused, reset, no pod in
rotation) are not counted, as the pods never saw them or never answered. The duration is the
request's latency at the pods: a profile's request overhead (time outside the pods, added to what
the client sees) is in neither the duration nor the second, which are the trace's `pod_end`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from chaos.metrics import REQUEST_DURATION_BUCKETS
from sim import outcomes as oc
from sim.trace import Trace

ANSWERED_ERRORS = (oc.TIMEOUT, oc.OVERLOAD)
"""Errors a pod answers itself (504 at its request timeout, 503 with a full queue)."""


@dataclass(frozen=True)
class ExportedCounts:
    """Per second k (answers in [k, k+1)): what the pods counted, summed over pods."""

    success: np.ndarray
    """Successful answers (outcome="success")."""
    error: np.ndarray
    """5xx answers (outcome="error")."""
    fallback: np.ndarray
    """Successful answers served through a fallback: cached features or the fallback model."""
    duration: np.ndarray
    """(seconds, len(REQUEST_DURATION_BUCKETS) + 1): answers per duration bucket, not cumulative;
    column i counts durations in (bucket i-1, bucket i], the last column those above every bound."""
    primary: np.ndarray | None = None
    """Successful answers of the default version's primary model (mlservice_predictions_total)."""
    flipped: np.ndarray | None = None
    """... of it with an injected wrong prediction (the class flipped)."""
    rolled: np.ndarray | None = None
    """... of a rolled-out version's primary model."""

    @property
    def seconds(self) -> int:
        return len(self.success)


def exported_counts(trace: Trace, horizon: float) -> ExportedCounts:
    """The replication's per-second counts (answers after the horizon are left out)."""
    size = math.ceil(horizon)
    status = oc.status(trace.code)
    answered = (status == oc.OK) | np.isin(status, ANSWERED_ERRORS)
    pod_end = trace.pod_end
    second = pod_end.astype(np.int64)
    keep = answered & (second < size)
    second, status, code = second[keep], status[keep], trace.code[keep]
    ok = status == oc.OK
    features, model = oc.features(code), oc.model(code)
    degraded = ok & ((features == oc.CACHE) | np.isin(model, list(oc.FALLBACK_REASONS)))
    width = len(REQUEST_DURATION_BUCKETS) + 1
    latency = (pod_end - trace.send)[keep]
    bucket = np.searchsorted(np.asarray(REQUEST_DURATION_BUCKETS), latency, side="left")
    duration = np.bincount(second * width + bucket, minlength=size * width).reshape(size, width)

    def answered_by(model_code: int) -> np.ndarray:
        return np.bincount(second[ok & (model == model_code)], minlength=size).astype(np.int32)

    return ExportedCounts(
        primary=answered_by(oc.PRIMARY),
        flipped=answered_by(oc.WRONG),
        rolled=answered_by(oc.ROLLED),
        success=np.bincount(second[ok], minlength=size).astype(np.int32),
        error=np.bincount(second[~ok], minlength=size).astype(np.int32),
        fallback=np.bincount(second[degraded], minlength=size).astype(np.int32),
        duration=duration.astype(np.int32),
    )
