"""A run record read back: everything the analysis needs of a run, from its directory alone.

`RunData` is what a run observed, as data: the experiment (from the record's own copy of the spec),
how the run ended, when its chaos was in place, every request record, the ready-pod samples, the
events, Prometheus' answers about alerts and breakers (signals.json) and the prediction. The runner
builds one in memory at the end of a run; `RunData.load(path)` builds the same from the files, so a
recorded run is re-analysed with no testbed, no Prometheus and no load generator.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.signals import Signals
from chaos.errors import ChaosLabError
from chaos.record import (
    EVENTS,
    LOAD_DIR,
    PODS,
    PREDICTION,
    PROMETHEUS_DIR,
    RUN,
    SIGNALS,
    SPEC_DIR,
    Event,
    ReadySample,
    RunStatus,
)
from chaos.spec import Experiment, load_experiment
from load import Record, RecordFormatError, read_records
from sim.forecast_summary import ForecastSummary

log = logging.getLogger(__name__)


class RunRecordReadError(ChaosLabError):
    """A run directory is not a readable run record."""

    hint = "point at a folder that `chaoslab run` wrote (runs/<experiment>-<time>/)"


@dataclass(frozen=True)
class ChaosWindow:
    """One chaos object of the run: when it was injected and ended (unix seconds)."""

    key: str
    kind: str
    action: str
    targets: tuple[str, ...]
    injected_at: float
    ended_at: float | None


@dataclass(frozen=True)
class RunData:
    experiment: Experiment
    info: dict[str, Any]
    """run.json as the runner wrote it (the summary's overview reads it)."""
    records: Sequence[Record]
    samples: Sequence[ReadySample]
    events: Sequence[Event]
    signals: Signals | None
    forecast: ForecastSummary | None
    chaos: tuple[ChaosWindow, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    """What could not be read back, when the record is incomplete."""
    series: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The spec's `metrics` as Prometheus answered them (prometheus/<name>.json): name -> {name,
    query, start, end, step, phases, result (or error)}."""

    @property
    def origin(self) -> float | None:
        value = self.info.get("origin")
        return None if value is None else float(value)

    @property
    def end(self) -> float | None:
        value = self.info.get("end")
        return None if value is None else float(value)

    @property
    def status(self) -> RunStatus | None:
        value = self.info.get("status")
        return None if value is None else RunStatus(value)

    @property
    def seed(self) -> int:
        return int(self.info.get("options", {}).get("seed", 0))

    @property
    def interventions(self) -> tuple[str, ...]:
        return tuple(str(i) for i in self.info.get("interventions", []))

    @property
    def fault_start(self) -> float | None:
        """Unix time of the first injection (None: nothing was injected)."""
        return min((c.injected_at for c in self.chaos), default=None)

    @property
    def fault_end(self) -> float | None:
        """Unix time the last chaos ended (None while any had not ended, or none was injected)."""
        ends = [c.ended_at for c in self.chaos]
        return None if not ends or None in ends else max(e for e in ends if e is not None)

    @classmethod
    def load(cls, path: Path) -> RunData:
        """Read the run record in `path`; RunRecordReadError if it is not one."""
        info = _json(path / RUN)
        if not isinstance(info, dict):
            raise RunRecordReadError(f"{path / RUN}: expected a JSON object")
        notes: list[str] = []
        experiment = _experiment(path, info, notes)
        try:
            records: Sequence[Record] = read_records(path / LOAD_DIR) if (path / LOAD_DIR).is_dir() else []
        except (OSError, RecordFormatError) as exc:
            raise RunRecordReadError(f"{path / LOAD_DIR}: {exc}") from exc
        signals_file = path / SIGNALS
        signals = Signals.from_json(_json(signals_file)) if signals_file.is_file() else None
        if signals is None:
            notes.append(f"{SIGNALS} is missing: no alerts or breaker trips from Prometheus")
        prediction = path / PREDICTION
        forecast = (
            ForecastSummary.from_dict(_json(prediction), str(prediction)) if prediction.is_file() else None
        )
        return cls(
            experiment=experiment,
            info=info,
            records=records,
            samples=read_pods(path / PODS),
            events=read_events(path / EVENTS),
            signals=signals,
            forecast=forecast,
            chaos=chaos_windows(info),
            notes=tuple(notes),
            series=read_series(path / PROMETHEUS_DIR),
        )


def chaos_windows(info: dict[str, Any]) -> tuple[ChaosWindow, ...]:
    """The chaos entries of run.json."""
    return tuple(
        ChaosWindow(
            key=str(c["chaos"]),
            kind=str(c["kind"]),
            action=str(c["action"]),
            targets=tuple(str(t) for t in c.get("targets", [])),
            injected_at=float(c["injectedAt"]),
            ended_at=None if c.get("endedAt") is None else float(c["endedAt"]),
        )
        for c in info.get("chaos", [])
    )


def read_series(folder: Path) -> dict[str, dict[str, Any]]:
    """prometheus/*.json by the metric's name ({} when there is none)."""
    if not folder.is_dir():
        return {}
    out: dict[str, dict[str, Any]] = {}
    for file in sorted(folder.glob("*.json")):
        data = _json(file)
        if not isinstance(data, dict):
            raise RunRecordReadError(f"{file}: expected a JSON object")
        out[str(data.get("name", file.stem))] = data
    return out


def read_events(path: Path) -> list[Event]:
    """events.jsonl, in the order its lines were written ([] when there is none)."""
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [Event.from_json(json.loads(line)) for line in lines if line]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise RunRecordReadError(f"{path}: not an event log ({exc})") from exc


def read_pods(path: Path) -> list[ReadySample]:
    """pods.csv ([] when there is none)."""
    if not path.exists():
        return []
    try:
        rows = path.read_text(encoding="utf-8").splitlines()[1:]
        return [ReadySample(float(t), int(r), int(d)) for t, r, d in (row.split(",") for row in rows if row)]
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunRecordReadError(f"{path}: not a pods table ({exc})") from exc


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RunRecordReadError(f"{path}: missing") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunRecordReadError(f"{path}: not readable JSON ({exc})") from exc


def _experiment(path: Path, info: dict[str, Any], notes: list[str]) -> Experiment:
    """The experiment from the record's copy of its spec, with the record's copy of the system
    profile the run used (`systemFile`: a `--profile` replaced the spec's own); the original files if
    the copies do not load on their own (a spec that names its manifests by a path outside its folder)."""
    copy = info.get("specFile")
    system = info.get("systemFile")
    if copy:
        try:
            return load_experiment(path / str(copy), path / str(system) if system else None)
        except ChaosLabError as exc:
            notes.append(f"the spec's copy {SPEC_DIR}/ does not load on its own ({exc}); read the original")
    source = info.get("experiment", {}).get("source")
    if not source:
        raise RunRecordReadError(f"{path / RUN}: names no experiment spec")
    return load_experiment(Path(source), path / str(system) if system else None)
