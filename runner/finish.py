"""The end of a run: what Prometheus says of it, the record's files, and its analysis.

`collect_outcome` asks Prometheus which alerts fired, when each pod's breaker opened and closed, and
for every metric query of the spec over the run; adds the alert and breaker events to the timeline;
and has the analysis judge the run (analysis.analyse) on the same data it reads back from the
record's files. `write_record` writes the raw files (run.json, events.jsonl, pods.csv, signals.json,
prometheus/*.json) and then the analysis' (observed.json, verdict.json, summary.md). Prometheus
failing at this point does not lose the run: the problem is noted in run.json.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from analysis.analyse import Analysis, analyse, write_analysis
from analysis.record import RunData, chaos_windows
from analysis.report import Report, write_report
from analysis.signals import BREAKER_OPENED, BREAKERS_NOT_CLOSED, FIRING_ALERTS, HOST_CPU, STEP, Signals
from chaos.errors import ChaosLabError
from chaos.record import RUN, Event, EventKind, RunStatus
from chaos.spec import Experiment
from load import Record
from runner.prometheus import PrometheusReader
from runner.state import RunOptions, RunState

log = logging.getLogger(__name__)

_SIGNAL_QUERIES = {  # Signals field: (query, what a problem note calls it)
    "alerts": (FIRING_ALERTS, "alerts"),
    "breaker_opened": (BREAKER_OPENED, "breaker trips"),
    "breakers_not_closed": (BREAKERS_NOT_CLOSED, "breakers"),
    "host_cpu": (HOST_CPU, "the machine's CPU"),
}


@dataclass(frozen=True)
class Finished:
    """A run's end, judged: its final status, the data the analysis judged, and the analysis."""

    status: RunStatus
    data: RunData
    analysis: Analysis
    series: dict[str, dict[str, Any]]


def collect_outcome(
    experiment: Experiment, state: RunState, prometheus: PrometheusReader, options: RunOptions
) -> Finished:
    """Ask Prometheus about the run, put its alerts and breakers on the timeline, judge the run."""
    origin, end = state.origin, state.end
    signals: Signals | None = None
    series: dict[str, dict[str, Any]] = {}
    if origin is not None and end is not None:
        signals = _signals(state, prometheus, origin, end)
        _signal_events(state, signals)
        series = _series(experiment, state, prometheus, origin, end)
    info = run_info(experiment, state, options)
    data = RunData(
        experiment=experiment,
        info=info,
        records=_all_records(state),
        samples=tuple(state.samples),
        events=tuple(state.events),
        signals=signals,
        forecast=state.forecast,
        chaos=chaos_windows(info),
        series=series,
    )
    analysis = analyse(data)
    status = analysis.status(state.status)
    info["status"] = str(status)
    return Finished(status, data, analysis, series)


def write_record(state: RunState, finished: Finished) -> Report | None:
    """The record's files: raw data first, then the analysis of the same data, then the report
    (results.md, report.html, score.json; None when it could not be made: the run is on disk)."""
    record = state.record
    record.write_pods(state.samples)
    if finished.data.signals is not None:
        record.write_signals(finished.data.signals)
    for name, query in finished.series.items():
        record.write_prometheus(name, query)
    record.write_events(state.events)
    record.write_json(RUN, finished.data.info)
    data = replace(finished.data, events=tuple(state.events))
    write_analysis(record.path, data, finished.analysis)
    try:
        return write_report(record.path, data, finished.analysis)
    except (OSError, ValueError, ChaosLabError) as exc:
        log.warning("the report of %s could not be written: %s", record.path, exc)
        return None


def _all_records(state: RunState) -> list[Record]:
    if state.load is not None:
        try:
            return state.load.records()
        except (ValueError, OSError, ChaosLabError) as exc:
            state.problems.append(f"reading the request records: {exc}")
    return sorted(state.released, key=lambda r: r.time)


def _signals(state: RunState, prometheus: PrometheusReader, origin: float, end: float) -> Signals:
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, (query, label) in _SIGNAL_QUERIES.items():
        try:
            answers[name] = prometheus.query_range(query, origin, end)
        except ChaosLabError as exc:
            errors[name] = str(exc)
            state.problems.append(f"{label}: {exc}")
    return Signals(end=end, errors=errors, **answers)


def _signal_events(state: RunState, signals: Signals) -> None:
    """Alerts firing and resolved, breakers open and closed per pod, on the run's timeline."""
    for alert in signals.alert_intervals():
        labels = {k: v for k, v in alert.labels.items() if k not in ("__name__", "alertstate")}
        state.events.append(
            Event(alert.start, EventKind.ALERT_FIRING, {"alert": alert.name, "labels": labels})
        )
        if alert.end is not None:
            state.events.append(Event(alert.end, EventKind.ALERT_RESOLVED, {"alert": alert.name}))
    for pod, start, stop in signals.breaker_stretches():
        state.events.append(Event(start, EventKind.BREAKER_OPEN, {"pod": pod}))
        if stop is not None:
            state.events.append(Event(stop, EventKind.BREAKER_CLOSED, {"pod": pod}))


def _series(
    experiment: Experiment, state: RunState, prometheus: PrometheusReader, origin: float, end: float
) -> dict[str, dict[str, Any]]:
    phases = {name: [origin + s, origin + e] for name, (s, e) in experiment.phases.bounds().items()}
    out: dict[str, dict[str, Any]] = {}
    for metric in experiment.metrics:
        data: dict[str, Any] = {
            "name": metric.name,
            "query": metric.query,
            "start": origin,
            "end": end,
            "step": STEP,
            "phases": phases,
        }
        try:
            data["result"] = prometheus.query_range(metric.query, origin, end)
        except ChaosLabError as exc:
            data["error"] = str(exc)
            state.problems.append(f"metric {metric.name}: {exc}")
        out[metric.name] = data
    return out


def _interventions(state: RunState) -> list[str]:
    found = []
    if state.status == RunStatus.ABORTED:
        found.append(f"aborted: {state.reason}")
    elif state.status == RunStatus.INTERRUPTED:
        found.append(f"interrupted by {', '.join(state.signals) or 'a signal'}")
    elif state.status is not None:
        found.append(f"run ended early ({state.status}): {state.reason}")
    if not state.rollback_done:
        found.append("rollback incomplete: " + ("; ".join(state.rollback_errors) or "not run"))
    return found


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, tz=UTC).isoformat()


def run_info(experiment: Experiment, state: RunState, options: RunOptions) -> dict[str, Any]:
    """run.json: what ran and how it ended (status None until the analysis decides it)."""
    origin = state.origin
    phases = (
        {n: {"start": origin + s, "end": origin + e} for n, (s, e) in experiment.phases.bounds().items()}
        if origin is not None
        else {}
    )
    return {
        "experiment": {"name": experiment.name, "title": experiment.title, "source": str(experiment.source)},
        "specFile": state.record.spec_file,
        "systemFile": state.record.system_file,
        "status": None if state.status is None else str(state.status),
        "reason": state.reason,
        "origin": origin,
        "originUtc": _iso(origin),
        "end": state.end,
        "phases": phases,
        "settle": state.settle,
        "chaos": [
            {
                "chaos": key,
                "kind": item.entry.kind,
                "action": item.entry.action,
                "manifest": item.entry.source,
                "after": item.step.after,
                "targets": list(item.entry.targets),
                "injectedAt": item.at,
                "endedAt": item.ended,
            }
            for key, item in state.injected.items()
        ],
        "steadyState": state.steady.to_dict() if state.steady else None,
        "abort": (
            {
                "condition": state.abort.condition.name,
                "since": state.abort.since,
                "at": state.abort.at,
                "value": state.abort.value,
                "detail": state.abort.describe(),
            }
            if state.abort
            else None
        ),
        "rollback": {"done": state.rollback_done, "errors": state.rollback_errors},
        "interventions": _interventions(state),
        "leftoversRecovered": state.leftovers.to_json() if state.leftovers else None,
        "warnings": state.warnings,
        "problems": state.problems,
        "options": {"seed": options.seed, "tick": options.tick, "predicted": state.forecast is not None},
        "files": state.record.copied_files(),
    }
