"""The run record: one directory per run, the single source for analysis (layout in docs/runner.md).

    runs/<experiment>-<UTC timestamp>/
        run.json            what ran: experiment, status, origin and end, phases, options, warnings,
                            abort, rollback, problems, the files copied
        spec/               the experiment spec, its system profile and manifests as run (copies)
        prediction.json     the forecast used (sim.forecast.Forecast.to_dict), if one was made
        load/               the load's record directory: requests-*.csv, run.json, locust*.csv/json, log
        events.jsonl        one JSON object per line: {"time": unix seconds, "kind": ..., ...}
        pods.csv            time,ready,desired (one sample per second)
        signals.json        Prometheus' answers about alerts, breaker openings and the machine's CPU
        prometheus/*.json   each spec metric query over the run (range query, step 1 s)
        observed.json       per-phase observed metrics with intervals, per-second series, recovery
        verdict.json        each success criterion: observed value, pass/fail, inside the prediction?
        summary.md          before/during/after, predicted vs observed, criteria, abort, rollback

Events are appended as they happen (so a crashed run keeps its timeline) and rewritten in time
order when the run ends (alerts are only known then). The names are chaos.record's; analysis.record
reads what this module writes.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis.signals import Signals
from chaos.record import (
    EVENTS,
    LOAD_DIR,
    PODS,
    PROMETHEUS_DIR,
    SIGNALS,
    SPEC_DIR,
    Event,
    ReadySample,
    RunRecordError,
    finite,
    write_json,
    write_text,
)
from chaos.spec import Experiment


def run_id(experiment: str, when: float) -> str:
    stamp = datetime.fromtimestamp(when, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{experiment}-{stamp}"


def safe_name(name: str) -> str:
    """A file name for a metric query name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "metric"


class RunRecord:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.spec_file = ""
        """The experiment spec's copy, relative to the record (run.json's `specFile`)."""
        self.system_file = ""
        """The system profile's copy, relative to the record (run.json's `systemFile`)."""

    @classmethod
    def create(cls, root: Path, experiment: Experiment, when: float) -> RunRecord:
        """A new, empty run directory under `root` holding copies of the spec's files."""
        base = run_id(experiment.name, when)
        try:
            root.mkdir(parents=True, exist_ok=True)
            for n in range(1, 1000):
                path = root / (base if n == 1 else f"{base}-{n}")
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    continue
            else:
                raise RunRecordError(f"{root}: too many runs named {base}")
            record = cls(path)
            copies = record.copy_spec(experiment)
            record.spec_file = copies.get(str(experiment.source), "")
            record.system_file = copies.get(experiment.system.source, "")
        except OSError as exc:
            raise RunRecordError(f"{root}: cannot create the run directory ({exc.strerror})") from exc
        return record

    @property
    def load_dir(self) -> Path:
        return self.path / LOAD_DIR

    @property
    def events_file(self) -> Path:
        return self.path / EVENTS

    def copy_spec(self, experiment: Experiment) -> dict[str, str]:
        """Copy the spec, its system profile and its manifests into spec/; original -> copy."""
        folder = self.path / SPEC_DIR
        folder.mkdir(exist_ok=True)
        sources = [experiment.source, Path(experiment.system.source), *(s.path for s in experiment.chaos)]
        copied: dict[str, str] = {}
        for source in sources:
            if not str(source) or not source.is_file() or str(source) in copied:
                continue
            target = folder / source.name
            if target.exists():
                target = folder / f"{len(copied)}-{source.name}"
            shutil.copy2(source, target)
            copied[str(source)] = str(target.relative_to(self.path))
        return copied

    def copied_files(self) -> list[str]:
        folder = self.path / SPEC_DIR
        return sorted(str(p.relative_to(self.path)) for p in folder.iterdir()) if folder.is_dir() else []

    # -- writing -------------------------------------------------------------------------------
    def append_event(self, event: Event) -> None:
        append_event(self.events_file, event)

    def write_events(self, events: Iterable[Event]) -> None:
        ordered = sorted(events, key=lambda e: e.time)
        self.write_text(EVENTS, "".join(json.dumps(finite(e.to_json())) + "\n" for e in ordered))

    def write_json(self, name: str, data: Any) -> Path:
        return write_json(self.path / name, data)

    def write_text(self, name: str, text: str) -> Path:
        return write_text(self.path / name, text)

    def write_pods(self, samples: Sequence[ReadySample]) -> Path:
        lines = ["time,ready,desired\n"] + [f"{s.time:.3f},{s.ready},{s.desired}\n" for s in samples]
        return self.write_text(PODS, "".join(lines))

    def write_signals(self, signals: Signals) -> Path:
        return self.write_json(SIGNALS, signals.to_json())

    def write_prometheus(self, name: str, data: Any) -> Path:
        return self.write_json(f"{PROMETHEUS_DIR}/{safe_name(name)}.json", data)


def append_event(path: Path, event: Event) -> None:
    """Append one event line and hand it to the OS at once (it must survive a crash)."""
    try:
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(finite(event.to_json())) + "\n")
            f.flush()
    except OSError as exc:
        raise RunRecordError(f"{path}: cannot be written ({exc.strerror})") from exc
