"""Start-up time from a run's record: how long pods the chaos took down needed to be ready again.

The runner samples the pods once per `tick` and writes an event when one turns ready. For each pod
the chaos took down (chaos objects of kind PodChaos in run.json):
- pod-failure: ready again at chaos end + startupTime + the readiness wait;
- container-kill (a pod's first crash restarts at once): injection + startupTime + the wait;
- pod-kill (a new pod, seen as `pod-created` after the injection): injection + scheduleDelay +
  startupTime + the wait.
The readiness wait after the pod serves is uniform over one probe period (the check's phase) plus
(successThreshold - 1) periods, and the sampling adds half a tick on average; those expectations and
the profile's scheduleDelay are subtracted, and the mean over pods is the estimate. Its spread is a
bootstrap over the pods. Only pods whose return the record shows count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.record import RunData
from chaos.record import EventKind
from chaos.system import SystemProfile


@dataclass(frozen=True)
class StartupFit:
    value: float
    low: float
    high: float
    pods: int


def _pod_name(target: str) -> str:
    return target.rsplit("/", 1)[-1]


def startup_estimates(data: RunData, profile: SystemProfile) -> list[float]:
    """One start-up time per pod whose return to ready the record shows (seconds)."""
    probe = profile.readiness
    tick = float(data.info.get("options", {}).get("tick", 1.0) or 1.0)
    wait = probe.period / 2 + (probe.success_threshold - 1) * probe.period + tick / 2
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

    found: list[float] = []
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
                    found.append(back - since - wait)
        elif chaos.action == "pod-kill":
            end = chaos.ended_at if chaos.ended_at is not None else data.end
            for t, pod, _ in created:
                if t >= chaos.injected_at and (end is None or t <= end + profile.lifecycle.schedule_delay):
                    back = first_ready(pod, t)
                    if back is not None:
                        found.append(back - chaos.injected_at - profile.lifecycle.schedule_delay - wait)
    return [max(0.0, x) for x in found]


def fit_startup(
    data: RunData, profile: SystemProfile, rng: np.random.Generator, resamples: int = 1000
) -> StartupFit | None:
    """The mean start-up time over the pods the record shows coming back, with a 90 % bootstrap
    interval over pods; None when it shows none."""
    values = np.array(startup_estimates(data, profile), dtype=float)
    if not len(values):
        return None
    means = rng.choice(values, size=(resamples, len(values))).mean(axis=1)
    low, high = np.percentile(means, [5, 95])
    return StartupFit(float(values.mean()), float(low), float(high), len(values))
