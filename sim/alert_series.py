"""One replication as the series Prometheus would have scraped, in promtool's `input_series` notation.

The alert rules (k8s/alert-rules.yaml) read what the pods export (service/README.md, "Metrics")
and what kube-state-metrics (the testbed supervisor, on the testbed) exports. This module renders a
replication into those series, sampled at every scrape (`scrape` seconds, from t = 0, or a later
offset, to the horizon), so Prometheus' own rule engine can evaluate the rules on them (sim/promtool.py):

- `mlservice_requests_total{outcome="success"|"error"}`, `mlservice_fallbacks_total` and
  `mlservice_request_duration_seconds_bucket{le}`: counters, cumulative over the run, from what
  the pods answered (sim/exported.py). One series per label set, summed over pods: the rules only
  ever sum them, and a sum of per-pod rates is the rate of the sum (a pod's restart resets its own
  counters, which rate() undoes).
- `mlservice_circuit_breaker_state{state="open", pod}`: per pod, 1 while its breaker is open. A pod
  whose container does not serve cannot be scraped: its series go stale then, as Prometheus marks
  them, and a new container starts closed.
- `up{job, pod}`: per pod, 1 while its container serves, else 0 (the scrape fails).
- `kube_deployment_spec_replicas` and `kube_deployment_status_replicas_available{namespace,
  deployment}`: the desired replicas and the ready pods at the scrape.

A pod-kill deletes the pod: its series go stale and the new pod's series (a new `pod` name, as the
ReplicaSet gives it) start `scheduleDelay` later; so do a rollout's new pods, and a pod a rollout
deleted leaves discovery (its series go stale). `mlservice_predictions_total{class,model_version}`
and `mlservice_model_reference_positive_ratio` are rendered only when the profile states its class-1
shares (`modelQuality.classOne`, `rendered(profile)`); without them a rule that reads them cannot be
evaluated on a replication. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chaos.errors import SimulationError
from chaos.metrics import REQUEST_DURATION_BUCKETS
from chaos.system import ClassOne, SystemProfile
from sim.exported import ExportedCounts
from sim.result import Replication
from sim.timeline import Event

REQUESTS = "mlservice_requests_total"
FALLBACKS = "mlservice_fallbacks_total"
DURATION_BUCKET = "mlservice_request_duration_seconds_bucket"
BREAKER_STATE = "mlservice_circuit_breaker_state"
UP = "up"
SPEC_REPLICAS = "kube_deployment_spec_replicas"
AVAILABLE_REPLICAS = "kube_deployment_status_replicas_available"
PREDICTIONS = "mlservice_predictions_total"
REFERENCE = "mlservice_model_reference_positive_ratio"
RENDERED = frozenset(
    {REQUESTS, FALLBACKS, DURATION_BUCKET, BREAKER_STATE, UP, SPEC_REPLICAS, AVAILABLE_REPLICAS}
)
"""The metrics every replication is rendered into."""
CLASS_MIX = frozenset({PREDICTIONS, REFERENCE})
"""... and these when the profile states its class-1 shares (`modelQuality.classOne`)."""


def rendered(profile: SystemProfile) -> frozenset[str]:
    """The metrics this profile's replications are rendered into."""
    return RENDERED | CLASS_MIX if profile.model_quality.class_one is not None else RENDERED


class Stale:
    """A staleness marker (promtool's `stale`): the series ended at this scrape."""

    def __repr__(self) -> str:
        return "STALE"


STALE = Stale()
Value = int | None | Stale
"""A sample: a number, None (no sample at this scrape) or STALE."""


@dataclass(frozen=True)
class InputSeries:
    """One entry of promtool's `input_series`: the series and its values, one per scrape."""

    series: str
    values: str

    def to_dict(self) -> dict[str, str]:
        return {"series": self.series, "values": self.values}


def notation(values: Sequence[Value]) -> str:
    """Values in promtool's expanding notation: `a+bxn` for n + 1 values stepping by b, `axn` for
    n + 1 equal values, `_xn` for n scrapes without a sample, `stale` for a staleness marker."""
    parts: list[str] = []
    i, n = 0, len(values)
    while i < n:
        v = values[i]
        if not isinstance(v, int):
            j = i
            while j + 1 < n and values[j + 1] is v:
                j += 1
            if v is None:
                parts.append("_" if j == i else f"_x{j - i + 1}")
            else:
                parts.extend(["stale"] * (j - i + 1))
            i = j + 1
            continue
        j = i
        step = None
        while j + 1 < n and isinstance(values[j + 1], int):
            d = values[j + 1] - values[j]  # type: ignore[operator]
            if step is not None and d != step:
                break
            step, j = d, j + 1
        if j - i >= 2 and step is not None:
            parts.append(f"{v}x{j - i}" if step == 0 else f"{v}{step:+d}x{j - i}")
            i = j + 1
        else:
            parts.append(str(v))
            i += 1
    return " ".join(parts)


def series_name(name: str, labels: Sequence[tuple[str, str]] = ()) -> str:
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"


def scrape_times(horizon: float, scrape: int, offset: int = 0) -> np.ndarray:
    """Every scrape from t = `offset` to the horizon, `scrape` whole seconds apart."""
    if scrape < 1:
        raise SimulationError(f"scrape={scrape} must be a whole number of seconds >= 1")
    if offset < 0:
        raise SimulationError(f"offset={offset} must be a whole number of seconds >= 0")
    return np.arange(offset, math.floor(horizon) + 1, scrape, dtype=np.int64)


def _cumulative(per_second: np.ndarray, times: np.ndarray) -> list[Value]:
    """A counter at each scrape: everything counted in the whole seconds before it."""
    total = np.concatenate(([0], np.cumsum(per_second, dtype=np.int64)))
    return [int(x) for x in total[np.minimum(times, len(per_second))]]


def counter_series(counts: ExportedCounts, times: np.ndarray) -> list[InputSeries]:
    """The request, fallback and duration-histogram counters."""
    out = [
        InputSeries(series_name(REQUESTS, [("outcome", outcome)]), notation(_cumulative(part, times)))
        for outcome, part in (("success", counts.success), ("error", counts.error))
    ]
    out.append(InputSeries(FALLBACKS, notation(_cumulative(counts.fallback, times))))
    cumulative_le = np.cumsum(counts.duration, axis=1)
    bounds = [repr(float(b)) for b in REQUEST_DURATION_BUCKETS] + ["+Inf"]
    for i, le in enumerate(bounds):
        values = _cumulative(cumulative_le[:, i], times)
        out.append(InputSeries(series_name(DURATION_BUCKET, [("le", le)]), notation(values)))
    return out


@dataclass
class _Pod:
    """One pod's state as the scrapes see it, while its events are played."""

    generation: int = 0
    serving: bool = True
    breaker_open: bool = False
    created: float = 0.0  # when the current pod (generation) was created


def pod_series(
    events: Sequence[Event], replicas: int, times: np.ndarray, job: str, schedule_delay: float
) -> list[InputSeries]:
    """`up` and the breaker's open gauge per pod (and per pod generation after a pod-kill or a
    rollout's new pod); a rollout's surge slots (beyond `replicas`) hold no pod until it makes one."""
    slots = max([replicas, *(e.pod + 1 for e in events if e.pod is not None)])
    pods = [_Pod() if p < replicas else _Pod(serving=False, created=math.inf) for p in range(slots)]
    columns: dict[tuple[int, int], tuple[list[Value], list[Value]]] = {}
    ordered = sorted((e for e in events if e.pod is not None), key=lambda e: e.time)
    k = 0
    for index, t in enumerate(times):
        while k < len(ordered) and ordered[k].time <= t:
            _play(pods[ordered[k].pod or 0], ordered[k], schedule_delay)
            k += 1
        for p, pod in enumerate(pods):
            up, breaker = columns.setdefault((p, pod.generation), ([None] * index, [None] * index))
            exists = t >= pod.created
            up.append((1 if pod.serving else 0) if exists else None)
            breaker.append((1 if pod.breaker_open else 0) if exists and pod.serving else None)
        for (p, generation), (up, breaker) in columns.items():
            if generation != pods[p].generation and len(up) == index:
                up.append(None)
                breaker.append(None)
    out: list[InputSeries] = []
    for (p, generation), (up, breaker) in sorted(columns.items()):
        if all(v is None for v in up):  # a slot's pod that never existed at a scrape
            continue
        name = f"pod-{p}" if generation == 0 else f"pod-{p}-{generation}"
        out.append(InputSeries(series_name(UP, [("job", job), ("pod", name)]), notation(_ended(up))))
        labels = [("state", "open"), ("pod", name)]
        out.append(InputSeries(series_name(BREAKER_STATE, labels), notation(_ended(breaker))))
    return out


def _play(pod: _Pod, event: Event, schedule_delay: float) -> None:
    if event.kind == "pod-down":
        pod.serving, pod.breaker_open = False, False
        if event.detail == "pod-kill":
            pod.generation += 1
            pod.created = event.time + schedule_delay
        elif event.detail == "terminated":  # deleted by a rollout: its target leaves discovery
            pod.generation += 1
            pod.created = math.inf
    elif event.kind == "pod-template":  # a rollout's new pod in the slot
        pod.generation += 1
        pod.serving, pod.breaker_open = False, False
        pod.created = event.time + schedule_delay
    elif event.kind == "pod-up":
        pod.serving, pod.breaker_open = True, False  # a new container's breaker starts closed
    elif event.kind == "breaker-open" and pod.serving:
        pod.breaker_open = True
    elif event.kind in ("breaker-half-open", "breaker-closed") and pod.serving:
        pod.breaker_open = False


def _ended(values: list[Value]) -> list[Value]:
    """A staleness marker at the first scrape without a sample after one with a sample (a failed
    scrape or a deleted pod), trailing scrapes without a sample dropped."""
    out = list(values)
    for i in range(1, len(out)):
        if out[i] is None and isinstance(out[i - 1], int):
            out[i] = STALE
    while out and out[-1] is None:
        out.pop()
    return out


def kube_series(
    events: Sequence[Event], replicas: int, times: np.ndarray, namespace: str, deployment: str
) -> list[InputSeries]:
    """kube-state-metrics' desired and available replicas of the deployment."""
    change = {"pod-ready": 1, "pod-not-ready": -1}
    steps = sorted((e.time, change[e.kind]) for e in events if e.kind in change)
    step_times = np.array([t for t, _ in steps], dtype=float)
    ready = replicas + np.concatenate(([0], np.cumsum([d for _, d in steps], dtype=np.int64)))
    available = ready[np.searchsorted(step_times, times, side="right")]
    labels = [("namespace", namespace), ("deployment", deployment)]
    return [
        InputSeries(series_name(SPEC_REPLICAS, labels), notation([replicas] * len(times))),
        InputSeries(series_name(AVAILABLE_REPLICAS, labels), notation([int(x) for x in available])),
    ]


def prediction_series(
    counts: ExportedCounts, times: np.ndarray, class_one: ClassOne, version: str | None
) -> list[InputSeries]:
    """`mlservice_predictions_total{class, model_version}` of the primary models, in expectation
    (each answer is class 1 with its version's share; an injected wrong answer is the other class),
    and the reference ratio gauge. The fallback model's answers are left out, as the rule does."""
    size = counts.seconds
    zeros = np.zeros(size, dtype=np.int32)
    primary = counts.primary if counts.primary is not None else zeros
    flipped = counts.flipped if counts.flipped is not None else zeros
    rolled = counts.rolled if counts.rolled is not None else zeros
    p = class_one.primary
    by_version = {"primary": (primary * p + flipped * (1 - p), primary + flipped)}
    if version is not None:
        by_version[version] = (rolled * class_one.versions[version], rolled.astype(float))
    out = []
    for label, (ones, total) in by_version.items():
        cumulative_ones = np.concatenate(([0.0], np.cumsum(ones)))[np.minimum(times, size)]
        cumulative = np.concatenate(([0.0], np.cumsum(total)))[np.minimum(times, size)]
        for cls, values in (("1", cumulative_ones), ("0", cumulative - cumulative_ones)):
            name = series_name(PREDICTIONS, [("class", cls), ("model_version", label)])
            out.append(InputSeries(name, notation([int(v + 0.5) for v in values])))
    out.append(InputSeries(REFERENCE, f"{class_one.reference!r}x{max(len(times) - 1, 0)}"))
    return out


def render(
    replication: Replication,
    profile: SystemProfile,
    horizon: float,
    scrape: int = 1,
    version: str | None = None,
    offset: int = 0,
) -> list[InputSeries]:
    """Every series the rules can read from this replication (the metrics `rendered(profile)`),
    scraped from t = `offset` on (its first sample is the scrape at `offset`); `version` is the
    model version a rollout serves (None: none)."""
    if replication.exported is None:
        raise SimulationError("the replication has no exported counts to render")
    service = profile.service
    times = scrape_times(horizon, scrape, offset)
    class_one = profile.model_quality.class_one
    mix = [] if class_one is None else prediction_series(replication.exported, times, class_one, version)
    return [
        *mix,
        *counter_series(replication.exported, times),
        *pod_series(
            replication.events, service.replicas, times, service.name, profile.lifecycle.schedule_delay
        ),
        *kube_series(replication.events, service.replicas, times, service.namespace, service.name),
    ]
