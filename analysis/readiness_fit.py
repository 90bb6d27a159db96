"""Start-up time from a run's record: how long pods the chaos took down needed to be ready again.

The runner samples the pods once per `tick` and writes an event when one turns ready. For each pod
the chaos took down (chaos objects of kind PodChaos in run.json), the kubelet's rules as the
simulator plays them (sim/timeline.py):
- pod-failure and container-kill (a pod's first crash restarts at once) restart the container in
  the same pod, whose probe worker keeps its phase: ready at restart + startupTime + a wait that
  is uniform over one probe period, plus (successThreshold - 1) periods. Those expectations, half
  a tick of sampling and the restart time subtracted, each pod gives an unbiased estimate.
- pod-kill makes a new pod whose worker first probes when its container starts (injection +
  scheduleDelay): it is ready on the first probe after its start-up, k periods after its start
  (plus successThreshold - 1). That says only that startupTime lies in [(k - 1) period, k period).

The estimate is the mean of the unbiased estimates, or without any the profile's own value; either
is then held inside the interval the new pods allow (the most common k among them). The spread is
a bootstrap over the pods with an unbiased estimate, else the allowed interval itself. Only pods
whose return the record shows count.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from analysis.record import RunData
from chaos.record import EventKind
from chaos.system import SystemProfile

_BELOW = 0.001
"""Seconds below a period boundary: the largest start-up a new pod's probe period allows."""


@dataclass(frozen=True)
class StartupFit:
    value: float
    low: float
    high: float
    pods: int


def _pod_name(target: str) -> str:
    return target.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class StartupObservations:
    unbiased: list[float]
    """One estimate per pod whose container restarted in place."""
    periods: list[int]
    """Per new pod: the probe period (k, from 1) after its container's start that made it ready."""


def startup_observations(data: RunData, profile: SystemProfile) -> StartupObservations:
    """What the record says about the start-up time, per pod whose return to ready it shows."""
    probe = profile.readiness
    tick = float(data.info.get("options", {}).get("tick", 1.0) or 1.0)
    extra = (probe.success_threshold - 1) * probe.period + tick / 2
    ready: dict[str, list[float]] = {}
    created: list[tuple[float, str, bool]] = []
    for event in data.events:
        pod = str(event.detail.get("pod", ""))
        if event.kind == EventKind.POD_READY:
            ready.setdefault(pod, []).append(event.time)
        elif event.kind == EventKind.POD_CREATED:
            created.append((event.time, pod, bool(event.detail.get("ready", False))))
            if event.detail.get("ready"):
                ready.setdefault(pod, []).append(event.time)

    def first_ready(pod: str, after: float) -> float | None:
        return next((t for t in sorted(ready.get(pod, [])) if t >= after), None)

    unbiased: list[float] = []
    periods: list[int] = []
    for chaos in data.chaos:
        if chaos.kind != "PodChaos":
            continue
        if chaos.action in ("pod-failure", "container-kill"):
            since = chaos.ended_at if chaos.action == "pod-failure" else chaos.injected_at
            if since is None:
                continue
            for target in chaos.targets:
                back = first_ready(_pod_name(target), since)
                if back is not None:
                    unbiased.append(max(0.0, back - since - probe.period / 2 - extra))
        elif chaos.action == "pod-kill":
            end = chaos.ended_at if chaos.ended_at is not None else data.end
            started = chaos.injected_at + profile.lifecycle.schedule_delay
            for t, pod, _ in created:
                if t >= chaos.injected_at and (end is None or t <= end + profile.lifecycle.schedule_delay):
                    back = first_ready(pod, t)
                    if back is not None:
                        periods.append(max(1, round((back - started - extra) / probe.period)))
    return StartupObservations(unbiased, periods)


def fit_startup(
    data: RunData, profile: SystemProfile, rng: np.random.Generator, resamples: int = 1000
) -> StartupFit | None:
    """The start-up time the record shows, with a 90 % interval; None when it shows no pod back."""
    seen = startup_observations(data, profile)
    if not seen.unbiased and not seen.periods:
        return None
    lo, hi = 0.0, math.inf
    if seen.periods:
        k = Counter(seen.periods).most_common(1)[0][0]
        period = profile.readiness.period
        # the first probe after the start-up passes; one at its very end fails: [lo, hi)
        lo, hi = (k - 1) * period, k * period - _BELOW

    def held(x: float) -> float:
        return float(min(max(x, lo), hi))

    if not seen.unbiased:
        value = held(profile.lifecycle.startup_time)
        return StartupFit(value, lo, hi, len(seen.periods))
    values = np.array(seen.unbiased, dtype=float)
    means = rng.choice(values, size=(resamples, len(values))).mean(axis=1)
    low, high = np.percentile(means, [5, 95])
    return StartupFit(held(values.mean()), held(low), held(high), len(values) + len(seen.periods))
