"""The report's figures (matplotlib, Agg): per-second latency and availability with the phases
shaded and the predicted 90 % band overlaid, ready pods, breakers open and alerts firing.

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

from analysis.observed import Observation
from analysis.signals import AlertInterval
from analysis.timeline import Moment
from chaos.record import EventKind
from sim.forecast_summary import ForecastSummary

WIDTH, HEIGHT, DPI = 10.0, 3.2, 100
PHASE_COLOURS = {"baseline": "#e8f0fe", "chaos": "#fde2e1", "recovery": "#e6f4ea"}
OBSERVED, PREDICTED = "#1a73e8", "#e37400"


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
    moments: Sequence[Moment],
    alerts: Sequence[AlertInterval],
    origin: float,
) -> bytes:
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
    opens = [m for m in moments if m.kind == EventKind.BREAKER_OPEN]
    for m in opens:
        ax.axvline(m.start - origin, color="#a142f4", lw=1, ls="--")
    if opens:
        ax.plot([], [], color="#a142f4", ls="--", label="breakers open")
    top = ax.get_ylim()[1]
    for i, a in enumerate(alerts):
        start = a.start - origin
        end = (a.end - origin) if a.end is not None else t[-1] if len(t) else start
        ax.hlines(top * (0.97 - 0.05 * i), start, end, color="#d93025", lw=4)
        ax.text(start, top * (0.99 - 0.05 * i), a.name, fontsize=7, color="#d93025")
    ax.set_ylabel("pods")
    ax.set_title("Ready pods, breakers opening, alerts firing")
    return _png(fig, ax)


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


def _phases(ax: Axes, observation: Observation) -> None:
    for p in observation.phases:
        ax.axvspan(p.start, p.end, color=PHASE_COLOURS.get(p.name, "#f1f3f4"), lw=0)
        ax.text(p.start, 0.98, f" {p.name}", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    ax.set_xlabel("seconds from the start of the load")


def _band(ax: Axes, forecast: ForecastSummary, name: str, scale: float, label: str) -> None:
    band = forecast.prediction.series[name]
    ax.fill_between(
        band.time, band.low * scale, band.high * scale, color=PREDICTED, alpha=0.25, lw=0, label=label
    )
    ax.plot(band.time, band.mean * scale, color=PREDICTED, lw=0.8, alpha=0.8)


def _png(fig: Figure, ax: Axes) -> bytes:
    ax.legend(loc="lower left", fontsize=8, framealpha=0.8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
