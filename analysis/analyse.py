"""A run judged: its observed metrics, the alerts that fired, each criterion's verdict, on disk.

`analyse` is pure: RunData in, Analysis out (analysis.observed, analysis.signals, analysis.verdict).
`write_analysis` writes observed.json, verdict.json and summary.md into the record. `reanalyse`
does both for a recorded run from its directory alone, which is how an old run is judged again
after the analysis changed:

    reanalyse(Path("runs/network-latency-20261201T120000Z"))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis.host import describe, to_phases
from analysis.observed import Observation, observe_run
from analysis.record import RunData
from analysis.signals import AlertInterval
from analysis.summary import render_summary
from analysis.verdict import Verdict, judge
from chaos.record import OBSERVED, SUMMARY, VERDICT, EventKind, RunStatus, write_json, write_text


@dataclass(frozen=True)
class Analysis:
    observation: Observation | None
    """None when the load never started: nothing was observed."""
    alerts: tuple[AlertInterval, ...]
    verdict: Verdict

    def status(self, ended: RunStatus | None) -> RunStatus:
        """How the run ended: as it ended early, or by its verdict when it completed."""
        if ended is not None and not ended.completed:
            return ended
        return RunStatus.PASSED if self.verdict.passed else RunStatus.FAILED


def analyse(data: RunData) -> Analysis:
    observation: Observation | None = None
    origin, end = data.origin, data.end
    signals = data.signals
    if origin is not None and end is not None:
        fault_start, fault_end = data.fault_start, data.fault_end
        observation = observe_run(
            data.records,
            origin,
            data.experiment.phases.bounds(),
            data.samples,
            None if fault_start is None else fault_start - origin,
            None if fault_end is None else fault_end - origin,
            data.seed,
            breaker_trips=signals.breaker_trips() if signals is not None else (),
            pod_changes=[
                e.time for e in data.events if e.kind in (EventKind.POD_CREATED, EventKind.POD_DELETED)
            ],
        )
    alerts = tuple(signals.alert_intervals()) if signals is not None and origin is not None else ()
    verdict = judge(data.experiment, observation, alerts, data.forecast, data.interventions, data.fault_start)
    return Analysis(observation, alerts, verdict)


def write_analysis(path: Path, data: RunData, analysis: Analysis) -> None:
    """observed.json, verdict.json and summary.md of the run in `path`."""
    status = str(analysis.status(data.status))
    info = {**data.info, "status": status}
    if analysis.observation is not None:
        write_json(path / OBSERVED, analysis.observation.to_dict())
    else:
        write_json(path / OBSERVED, {"note": "the load never started: nothing was observed"})
    write_json(path / VERDICT, {"status": status, **analysis.verdict.to_dict()})
    summary = render_summary(
        data.experiment,
        info,
        analysis.observation,
        analysis.verdict,
        data.forecast,
        data.events,
        host_text(data),
    )
    write_text(path / SUMMARY, summary)


def host_text(data: RunData) -> str | None:
    """The paragraph on the machine's CPU over the run's phases (None: the run has no signals)."""
    if data.signals is None or data.origin is None:
        return None
    return describe(data.signals.host_cpu, to_phases(data.info), data.origin)


def reanalyse(path: Path) -> Analysis:
    """Judge the run recorded in `path` again and rewrite its analysis files."""
    data = RunData.load(path)
    analysis = analyse(data)
    write_analysis(path, data, analysis)
    return analysis
