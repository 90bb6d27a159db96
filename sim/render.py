"""Forecasts for people (text, markdown) and machines (JSON)."""

from __future__ import annotations

import json
from io import StringIO

from rich.console import Console
from rich.table import Table

from chaos.metrics import METRICS
from sim.forecast import Forecast, describe_criterion, format_value
from sim.forecast_summary import AlertSummary
from sim.montecarlo import Estimate

FORMATS = ("text", "json", "markdown")
_SUMMARY_METRICS = (
    "availability",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "cache_share",
    "fallback_share",
)
_UNITS = {"fraction": "percent", "pods": "pods", "rps": "rps"}


def _display_unit(metric: str) -> str:
    """Percent for shares, ms for latencies, s for event times."""
    info = METRICS.get(metric)
    if info is None or info.unit == "seconds":
        return "ms" if metric.startswith("latency_") else "s"
    return _UNITS[info.unit]


def render(forecast: Forecast, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(forecast.to_dict(), indent=2, allow_nan=False) + "\n"
    if fmt == "markdown":
        return markdown(forecast)
    if fmt == "text":
        return text(forecast)
    raise ValueError(f"format={fmt!r} must be one of {', '.join(FORMATS)}")


def _estimate_text(e: Estimate | None, metric: str) -> str:
    if e is None or e.point is None:
        return "n/a"
    unit = _display_unit(metric)
    suffix = {"percent": " %", "ms": " ms", "pods": "", "rps": " /s"}.get(unit, " s")
    scale = {"percent": 100.0, "ms": 1000.0}.get(unit, 1.0)
    point = format_value(e.point * scale, unit)
    low = format_value((e.low or 0.0) * scale, unit)
    high = format_value((e.high or 0.0) * scale, unit)
    return f"{point}{suffix} [{low}, {high}]"


def _probability_text(p: float | None) -> str:
    return "-" if p is None else f"{p:.0%}"


def _phase_rows(forecast: Forecast) -> list[list[str]]:
    prediction = forecast.prediction
    rows = []
    for metric in _SUMMARY_METRICS:
        row = [metric]
        for phase in prediction.phases:
            row.append(_estimate_text(prediction.metric(metric, phase.name), metric))
        rows.append(row)
    for metric in ("breaker_first_trip", "recovery_time"):
        e = prediction.metric(metric)
        row = [metric, _estimate_text(e, metric)]
        if e.count < len(prediction.replications):
            row[1] += f" ({e.count}/{len(prediction.replications)} runs)"
        rows.append(row + [""] * (len(prediction.phases) - 1))
    return rows


def _seconds_text(e: Estimate | None) -> str:
    if e is None or e.point is None:
        return "-"
    return f"{format_value(e.point, 's')} s [{format_value(e.low, 's')}, {format_value(e.high, 's')}]"


def _alert_rows(forecast: Forecast) -> list[list[str]]:
    """Per alerting rule: P(fires), first fire and firing time (from the first fault's start)."""
    if forecast.alerts is None:
        return []
    n = len(forecast.prediction.replications)

    def row(a: AlertSummary) -> list[str]:
        if a.probability is None:
            return [a.name, "-", a.note, ""]
        first = _seconds_text(a.first_fire)
        if a.first_fire is not None and 0 < a.first_fire.count < n:
            first += f" ({a.first_fire.count}/{n} runs)"
        return [a.name, _probability_text(a.probability), first, _seconds_text(a.duration)]

    return [row(a) for a in forecast.alerts.summaries()]


_ALERT_COLUMNS = ("alert", "P(fires)", "first fire after the fault", "firing for")


def _alerts_caption(forecast: Forecast) -> str:
    a = forecast.alerts
    if a is None:
        return ""
    return (
        f"{a.source} evaluated by promtool every {a.evaluation:g} s on the replications' series "
        f"(scraped every {a.scrape:g} s); times from the first fault's start ({a.since:g} s)"
    )


def text(forecast: Forecast) -> str:
    buffer = StringIO()
    console = Console(file=buffer, width=110, highlight=False, force_terminal=False, color_system=None)
    e, p = forecast.experiment, forecast.prediction
    console.print(f"{e.title}  ({e.source})", markup=False)
    console.print(
        f"{len(p.replications)} replications, seed {p.seed}; intervals are 90 % prediction intervals\n"
    )
    console.print("Hypothesis:", style="bold")
    console.print(forecast.statement + "\n", markup=False)
    for b in forecast.blanks:
        console.print(f"  {b.blank.name} = {b.text} {b.blank.unit} ({b.interval_text})", markup=False)
    table = Table(title="Success criteria", title_justify="left")
    for column in ("criterion", "requirement", "predicted", "P(holds)"):
        table.add_column(column)
    for c in forecast.criteria:
        metric = getattr(c.criterion, "metric", "recovery_time")
        predicted = _estimate_text(c.estimate, metric) if c.estimate is not None else c.note
        table.add_row(
            c.criterion.name, describe_criterion(c.criterion), predicted, _probability_text(c.probability)
        )
    console.print()
    console.print(table)
    phases = Table(title="Per phase", title_justify="left")
    phases.add_column("metric")
    for phase in p.phases:
        phases.add_column(f"{phase.name} ({phase.duration:g} s)")
    for row in _phase_rows(forecast):
        phases.add_row(*row)
    console.print(phases)
    if forecast.alerts is not None:
        alerts = Table(title="Alerts", title_justify="left", caption=_alerts_caption(forecast))
        for column in _ALERT_COLUMNS:
            alerts.add_column(column, no_wrap=column == "alert", overflow="fold")
        for row in _alert_rows(forecast):
            alerts.add_row(*row)
        console.print(alerts)
    return buffer.getvalue()


def markdown(forecast: Forecast) -> str:
    e, p = forecast.experiment, forecast.prediction
    lines = [
        f"# Prediction: {e.title}",
        "",
        f"Experiment `{e.source}`; {len(p.replications)} replications, seed {p.seed}; "
        "intervals are 90 % prediction intervals.",
        "",
        "## Hypothesis",
        "",
        f"> {forecast.statement}",
        "",
        "| blank | value | unit | estimate |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{b.blank.name}` | {b.text} | {b.blank.unit} | {b.interval_text} |" for b in forecast.blanks
    ]
    lines += [
        "",
        "## Success criteria",
        "",
        "| criterion | requirement | predicted | P(holds) |",
        "|---|---|---|---|",
    ]
    for c in forecast.criteria:
        metric = getattr(c.criterion, "metric", "recovery_time")
        predicted = _estimate_text(c.estimate, metric) if c.estimate is not None else c.note
        lines.append(
            f"| {c.criterion.name} | {describe_criterion(c.criterion)} | {predicted} | "
            f"{_probability_text(c.probability)} |"
        )
    header = "| metric | " + " | ".join(f"{ph.name} ({ph.duration:g} s)" for ph in p.phases) + " |"
    lines += ["", "## Per phase", "", header, "|---" * (len(p.phases) + 1) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in _phase_rows(forecast)]
    if forecast.alerts is not None:
        lines += ["", "## Alerts", "", _alerts_caption(forecast) + ".", ""]
        lines += ["| " + " | ".join(_ALERT_COLUMNS) + " |", "|---" * len(_ALERT_COLUMNS) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in _alert_rows(forecast)]
    return "\n".join(lines) + "\n"
