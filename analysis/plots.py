"""The report's figures (matplotlib, Agg): per-second latency and availability with the phases
shaded and the predicted 90 % band overlaid, ready pods and open breakers, alerts firing (one lane
per alert, its series merged), the machine's CPU (busy and stolen).

Each function returns PNG bytes, so the HTML report embeds them and nothing is written beside it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.host import SATURATED_IDLE, shares
from analysis.observed import Observation
from analysis.signals import AlertInterval, Result
from chaos.record import Event, EventKind
from sim.forecast_summary import ForecastSummary

WIDTH, HEIGHT, DPI = 10.0, 3.2, 100
PHASE_COLOURS = {"baseline": "#e8f0fe", "chaos": "#fde2e1", "recovery": "#e6f4ea"}
OBSERVED, PREDICTED, BREAKER, ALERT = "#1a73e8", "#e37400", "#a142f4", "#d93025"


def latency_figure(observation: Observation, forecast: ForecastSummary | None) -> bytes:
    fig, ax = _figure()
    _phases(ax, observation)
    t = _time(observation)
    for name, style in (("latency_p50", ":"), ("latency_p95", "-")):
        ax.plot(
            t,
            _ms(observation.series.get(name, [])),
            style,
            color=OBSERVED,
            lw=1.2,
            label=f"observed {name[-3:]}",
        )
    if forecast is not None and "latency_p95" in forecast.prediction.series:
        _band(ax, forecast, "latency_p95", 1000.0, "predicted p95 (90 % band)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency per second")
    return _png(fig, ax)


def availability_figure(observation: Observation, forecast: ForecastSummary | None) -> bytes:
    fig, ax = _figure()
    _phases(ax, observation)
    t = _time(observation)
    ax.plot(
        t,
        _scaled(observation.series.get("availability", []), 100.0),
        color=OBSERVED,
        lw=1.2,
        label="observed",
    )
    if forecast is not None and "availability" in forecast.prediction.series:
        _band(ax, forecast, "availability", 100.0, "predicted (90 % band)")
    ax.set_ylabel("availability (%)")
    ax.set_title("Availability per second")
    return _png(fig, ax)


def pods_figure(
    observation: Observation,
    forecast: ForecastSummary | None,
    events: Sequence[Event],
    origin: float,
) -> bytes:
    """Ready pods (observed, and the predicted band) and how many pods had their breaker open."""
    fig, ax = _figure()
    _phases(ax, observation)
    t = _time(observation)
    ax.step(
        t,
        _scaled(observation.series.get("ready_pods", []), 1.0),
        where="post",
        color=OBSERVED,
        lw=1.2,
        label="ready pods (observed)",
    )
    if forecast is not None and "ready_pods" in forecast.prediction.series:
        _band(ax, forecast, "ready_pods", 1.0, "ready pods predicted (90 % band)")
    times, counts = breakers_open(events, origin)
    if len(times):
        ax.step(times, counts, where="post", color=BREAKER, lw=1.2, label="pods with the breaker open")
    ax.set_ylabel("pods")
    ax.set_ylim(bottom=0)
    ax.set_title("Ready pods and open circuit breakers")
    return _png(fig, ax)


def alerts_figure(observation: Observation, alerts: Sequence[AlertInterval], origin: float) -> bytes:
    """One lane per alert name: when it was firing (its series merged)."""
    names = sorted({a.name for a in alerts})
    fig, ax = plt.subplots(figsize=(WIDTH, 0.6 + 0.35 * max(len(names), 1)), dpi=DPI)
    _phases(ax, observation, labels=False)
    end = float(len(observation.series.get("requests", [])))
    for lane, name in enumerate(names):
        spans = [
            (a.start - origin, (a.end - origin if a.end is not None else end) - (a.start - origin))
            for a in alerts
            if a.name == name
        ]
        ax.broken_barh(spans, (lane - 0.35, 0.7), color=ALERT)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_ylim(-0.6, max(len(names), 1) - 0.4)
    ax.set_title("Alerts firing" if names else "Alerts firing: none fired")
    fig.tight_layout()
    return _save(fig)


def host_figure(observation: Observation, result: Result | None, origin: float) -> bytes | None:
    """Per node: the share of its CPUs busy and stolen by the hypervisor, per scrape (None: the run
    recorded no CPU)."""
    nodes = shares(result)
    if not any("idle" in p for points in nodes.values() for p in points.values()):
        return None
    fig, ax = _figure()
    _phases(ax, observation)
    many = len(nodes) > 1
    for instance, points in sorted(nodes.items()):
        times = sorted(t for t, p in points.items() if "idle" in p)
        t = np.array(times) - origin
        idle = np.array([points[x]["idle"] for x in times])
        steal = np.array([points[x].get("steal", 0.0) for x in times])
        suffix = f" {instance}" if many else ""
        ax.plot(
            t, np.clip(1.0 - idle - steal, 0.0, 1.0) * 100.0, color=OBSERVED, lw=1.0, label="busy" + suffix
        )
        ax.plot(t, steal * 100.0, color=ALERT, lw=1.0, label="stolen by the hypervisor" + suffix)
    ax.axhline((1.0 - SATURATED_IDLE) * 100.0, color="#5f6368", lw=0.8, ls="--", label="used up")
    ax.set_ylim(0, 105)
    ax.set_ylabel("share of the CPUs (%)")
    ax.set_title("The machine's CPU")
    return _png(fig, ax)


def breakers_open(events: Sequence[Event], origin: float) -> tuple[np.ndarray, np.ndarray]:
    """(times, pods with an open breaker from then on), from the breaker-open/-closed events."""
    changes = sorted(
        (e.time - origin, 1 if e.kind == EventKind.BREAKER_OPEN else -1)
        for e in events
        if e.kind in (EventKind.BREAKER_OPEN, EventKind.BREAKER_CLOSED)
    )
    if not changes:
        return np.array([]), np.array([])
    times = np.array([0.0] + [t for t, _ in changes])
    counts = np.cumsum([0] + [d for _, d in changes])
    return times, counts


# -- helpers --------------------------------------------------------------------------------------
def _figure() -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT), dpi=DPI)
    return fig, ax


def _time(observation: Observation) -> np.ndarray:
    return np.arange(len(observation.series.get("requests", [])), dtype=float)


def _scaled(values: Sequence[float | None], scale: float) -> np.ndarray:
    return np.array([np.nan if v is None else v * scale for v in values], dtype=float)


def _ms(values: Sequence[float | None]) -> np.ndarray:
    return _scaled(values, 1000.0)


def _phases(ax: Axes, observation: Observation, labels: bool = True) -> None:
    for p in observation.phases:
        ax.axvspan(p.start, p.end, color=PHASE_COLOURS.get(p.name, "#f1f3f4"), lw=0)
        if labels:
            ax.text(p.start, 0.98, f" {p.name}", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    ax.set_xlabel("seconds from the start of the load")


def _band(ax: Axes, forecast: ForecastSummary, name: str, scale: float, label: str) -> None:
    band = forecast.prediction.series[name]
    ax.fill_between(
        band.time, band.low * scale, band.high * scale, color=PREDICTED, alpha=0.25, lw=0, label=label
    )
    ax.plot(band.time, band.mean * scale, color=PREDICTED, lw=0.8, alpha=0.8)


def _png(fig: Figure, ax: Axes) -> bytes:
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig)


def _save(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
