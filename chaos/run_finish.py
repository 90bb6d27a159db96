"""The end of a run: what it observed, which alerts fired, how each criterion fared, on disk.

`collect_outcome` reads the complete request record, observes the run (chaos.observed), asks
Prometheus which alerts fired, when each pod's breaker opened and closed, and for every metric query
of the spec over the run, and judges the success criteria (chaos.verdict). `write_record` writes the
run record's files from the outcome. Prometheus failing at this point does not lose the run: the
problem is noted in run.json.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chaos.errors import ChaosLabError
from chaos.load_driver import Record
from chaos.observed import Observation, observe_run
from chaos.prometheus_reader import (
    BREAKER_OPENED,
    BREAKERS_NOT_CLOSED,
    FIRING_ALERTS,
    STEP,
    AlertInterval,
    PrometheusReader,
    firing_intervals,
    present_intervals,
)
from chaos.run_record import Event
from chaos.run_state import ABORTED, INTERRUPTED, RunOptions, RunState
from chaos.spec import Experiment
from chaos.summary import render_summary
from chaos.verdict import Verdict, judge

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    observation: Observation | None
    alerts: tuple[AlertInterval, ...]
    series: dict[str, dict[str, Any]]
    verdict: Verdict
    interventions: tuple[str, ...]


def collect_outcome(
    experiment: Experiment, state: RunState, prometheus: PrometheusReader, seed: int
) -> Outcome:
    observation: Observation | None = None
    alerts: tuple[AlertInterval, ...] = ()
    series: dict[str, dict[str, Any]] = {}
    origin, end = state.origin, state.end
    if origin is not None and end is not None:
        records = _all_records(state)
        fault_start = None if state.fault_start is None else state.fault_start - origin
        fault_end = None if state.fault_end is None else state.fault_end - origin
        observation = observe_run(
            records,
            origin,
            experiment.phases.bounds(),
            state.samples,
            fault_start,
            fault_end,
            seed,
            breaker_trips=_breaker_trips(state, prometheus, origin, end),
        )
        alerts = _alerts(state, prometheus, origin, end)
        _breakers(state, prometheus, origin, end)
        series = _series(experiment, state, prometheus, origin, end)
    interventions = tuple(_interventions(state))
    verdict = judge(experiment, observation, alerts, state.forecast, interventions, state.fault_start)
    return Outcome(observation, alerts, series, verdict, interventions)


def write_record(experiment: Experiment, state: RunState, outcome: Outcome, options: RunOptions) -> None:
    record = state.record
    if outcome.observation is not None:
        record.write_json("observed.json", outcome.observation.to_dict())
    else:
        record.write_json("observed.json", {"note": "the load never started: nothing was observed"})
    record.write_json("verdict.json", {"status": state.status, **outcome.verdict.to_dict()})
    record.write_pods(state.samples)
    for name, data in outcome.series.items():
        record.write_prometheus(name, data)
    record.write_events(state.events)
    record.write_json("run.json", _run_info(experiment, state, outcome, options))
    record.write_text(
        "summary.md",
        render_summary(
            experiment,
            _run_info(experiment, state, outcome, options),
            outcome.observation,
            outcome.verdict,
            state.forecast,
            state.events,
        ),
    )


def _all_records(state: RunState) -> list[Record]:
    if state.load is not None:
        try:
            return state.load.records()
        except (ValueError, OSError, ChaosLabError) as exc:
            state.problems.append(f"reading the request records: {exc}")
    return sorted(state.released, key=lambda r: r.time)


def _alerts(
    state: RunState, prometheus: PrometheusReader, origin: float, end: float
) -> tuple[AlertInterval, ...]:
    try:
        intervals = firing_intervals(prometheus.query_range(FIRING_ALERTS, origin, end), end)
    except ChaosLabError as exc:
        state.problems.append(f"alerts: {exc}")
        return ()
    for alert in intervals:
        labels = {k: v for k, v in alert.labels.items() if k not in ("__name__", "alertstate")}
        state.events.append(Event(alert.start, "alert-firing", {"alert": alert.name, "labels": labels}))
        if alert.end is not None:
            state.events.append(Event(alert.end, "alert-resolved", {"alert": alert.name}))
    return tuple(intervals)


def _breaker_trips(state: RunState, prometheus: PrometheusReader, origin: float, end: float) -> list[float]:
    """Every distinct time (unix) a pod's breaker opened during the run, from the pods' gauge."""
    try:
        result = prometheus.query_range(BREAKER_OPENED, origin, end)
    except ChaosLabError as exc:
        state.problems.append(f"breaker trips: {exc}")
        return []
    return sorted({float(v) for series in result for _, v in series.get("values", [])})


def _breakers(state: RunState, prometheus: PrometheusReader, origin: float, end: float) -> None:
    """Breaker open and closed events per pod, from the pods' breaker-state gauge as Prometheus
    scraped it (to the scrape interval; `_breaker_trips` has the exact opening times)."""
    try:
        stretches = present_intervals(prometheus.query_range(BREAKERS_NOT_CLOSED, origin, end), end)
    except ChaosLabError as exc:
        state.problems.append(f"breakers: {exc}")
        return
    for labels, start, stop in stretches:
        pod = labels.get("pod", "?")
        state.events.append(Event(start, "breaker-open", {"pod": pod}))
        if stop is not None:
            state.events.append(Event(stop, "breaker-closed", {"pod": pod}))


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
    if state.status == ABORTED:
        found.append(f"aborted: {state.reason}")
    elif state.status == INTERRUPTED:
        found.append(f"interrupted by {', '.join(state.signals) or 'a signal'}")
    elif state.status is not None:
        found.append(f"run ended early ({state.status}): {state.reason}")
    if not state.rollback_done:
        found.append("rollback incomplete: " + ("; ".join(state.rollback_errors) or "not run"))
    return found


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, tz=UTC).isoformat()


def _run_info(
    experiment: Experiment, state: RunState, outcome: Outcome, options: RunOptions
) -> dict[str, Any]:
    origin = state.origin
    phases = (
        {n: {"start": origin + s, "end": origin + e} for n, (s, e) in experiment.phases.bounds().items()}
        if origin is not None
        else {}
    )
    return {
        "experiment": {"name": experiment.name, "title": experiment.title, "source": str(experiment.source)},
        "status": state.status,
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
        "interventions": list(outcome.interventions),
        "leftoversRecovered": state.leftovers.to_json() if state.leftovers else None,
        "warnings": state.warnings,
        "problems": state.problems,
        "options": {"seed": options.seed, "tick": options.tick, "predicted": state.forecast is not None},
        "files": state.record.copied_files(),
    }
