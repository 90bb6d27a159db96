"""The machine under the run: how busy its CPUs were, and how much the hypervisor took from them.

A latency the system under test did not cause can still show in a run: pods starting at once take
the node's CPU from the pods serving requests, and on a virtual machine the hypervisor can stop
the guest's CPUs for a moment (CPU steal). The runner records the node exporter's CPU counters as
shares of each node's CPUs over the run (analysis.signals.HOST_CPU, kept in signals.json as it
came); this module turns them into per-phase figures and the stretches during which a node's CPU
was used up, so the summary, the report and the backlog can say which latency was the machine's.
Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analysis.signals import STEP, Result

SATURATED_IDLE = 0.05
"""A node whose CPUs were idle less than this share of a scrape interval had its CPU used up."""


@dataclass(frozen=True)
class HostPhase:
    """One node over one phase: CPU shares of the scrape intervals inside it."""

    instance: str
    phase: str
    samples: int
    busy_mean: float
    """Mean share of the node's CPUs not idle and not stolen."""
    idle_min: float
    steal_mean: float
    steal_max: float
    saturated: int
    """Samples with the idle share below SATURATED_IDLE."""


@dataclass(frozen=True)
class Stretch:
    """A stretch of consecutive samples during which a node's CPU was used up (unix seconds)."""

    instance: str
    start: float
    end: float


def shares(result: Result | None) -> dict[str, dict[float, dict[str, float]]]:
    """instance -> time -> {mode: share}, from an answer to HOST_CPU."""
    out: dict[str, dict[float, dict[str, float]]] = {}
    for series in result or []:
        labels = series.get("metric", {})
        instance, mode = str(labels.get("instance", "?")), str(labels.get("mode", "?"))
        points = out.setdefault(instance, {})
        for t, v in series.get("values", []):
            points.setdefault(float(t), {})[mode] = float(v)
    return out


def host_phases(result: Result | None, phases: Mapping[str, Sequence[float]]) -> list[HostPhase]:
    """Per node and phase (phases: name -> (start, end), unix seconds), in phase order."""
    out = []
    for instance, points in sorted(shares(result).items()):
        for phase, (start, end) in phases.items():
            inside = [p for t, p in sorted(points.items()) if start < t <= end and "idle" in p]
            if not inside:
                continue
            idle = [p["idle"] for p in inside]
            steal = [p.get("steal", 0.0) for p in inside]
            busy = [max(0.0, 1.0 - i - s) for i, s in zip(idle, steal, strict=True)]
            out.append(
                HostPhase(
                    instance=instance,
                    phase=phase,
                    samples=len(inside),
                    busy_mean=sum(busy) / len(busy),
                    idle_min=min(idle),
                    steal_mean=sum(steal) / len(steal),
                    steal_max=max(steal),
                    saturated=sum(i < SATURATED_IDLE for i in idle),
                )
            )
    return out


def saturated_stretches(result: Result | None, step: float = STEP) -> list[Stretch]:
    """Stretches of samples with the idle share below SATURATED_IDLE, per node; a sample stands for
    the scrape interval before it, so a stretch starts one step before its first sample."""
    out = []
    for instance, points in sorted(shares(result).items()):
        times = [t for t, p in sorted(points.items()) if p.get("idle", 1.0) < SATURATED_IDLE]
        if not times:
            continue
        begin = previous = times[0]
        for t in times[1:]:
            if t - previous > 1.5 * step:
                out.append(Stretch(instance, begin - step, previous))
                begin = t
            previous = t
        out.append(Stretch(instance, begin - step, previous))
    return out


def describe(result: Result | None, phases: Mapping[str, Sequence[float]], origin: float) -> str:
    """One paragraph for the summary: per node and phase, busy / idle / steal, and when the CPU
    was used up (seconds after `origin`)."""
    rows = host_phases(result, phases)
    if not rows:
        return "The machine's CPU: not recorded (no node_cpu_seconds_total in Prometheus)."
    parts = []
    nodes = {r.instance for r in rows}
    for r in rows:
        name = f"{r.instance} {r.phase}" if len(nodes) > 1 else r.phase
        text = (
            f"{name} busy {_pct(r.busy_mean)} (idle at least {_pct(r.idle_min)}), "
            f"stolen {_pct(r.steal_mean)} (at most {_pct(r.steal_max)})"
        )
        if r.saturated:
            text += f", used up in {r.saturated} of {r.samples} samples"
        parts.append(text)
    stretches = saturated_stretches(result)
    line = "The machine's CPU (node exporter, share of its CPUs per scrape): " + "; ".join(parts) + "."
    if stretches:
        spans = ", ".join(
            (f"{s.instance} " if len(nodes) > 1 else "") + f"{s.start - origin:.0f}-{s.end - origin:.0f} s"
            for s in stretches
        )
        line += f" CPU used up (idle under {_pct(SATURATED_IDLE)}): {spans}."
    return line


def saturated_in(result: Result | None, phases: Mapping[str, Sequence[float]]) -> dict[str, int]:
    """phase -> samples in which some node's CPU was used up (phases with none left out)."""
    out: dict[str, int] = {}
    for r in host_phases(result, phases):
        if r.saturated:
            out[r.phase] = out.get(r.phase, 0) + r.saturated
    return out


def _pct(share: float) -> str:
    return f"{share * 100:.1f} %"


def to_phases(info: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """run.json's phases (name -> {start, end}) as (start, end) pairs."""
    return {str(n): (float(p["start"]), float(p["end"])) for n, p in info.get("phases", {}).items()}
