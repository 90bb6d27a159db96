"""The run directory: one folder holding a testbed's plan, state, logs, PIDs and server data.

`up` creates it, the daemon fills it, `status` and clients read it, `down` (or the next `up`) finds
every process through it - also after a crash, when nothing else remembers them.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.processes import ProcessRecord
from testbed.config import Plan, write_json

ENV_RUN_DIR = "CHAOSLAB_TESTBED_DIR"
DAEMON = "daemon"
RULES_FILE = "alert-rules.yml"
"""The alert rules the testbed's Prometheus loaded (the rules file with any `for:` override)."""


def default_run_dir() -> Path:
    """$CHAOSLAB_TESTBED_DIR, else runs/testbed under the current directory."""
    env = os.environ.get(ENV_RUN_DIR)
    return Path(env) if env else Path.cwd() / "runs" / "testbed"


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def plan_file(self) -> Path:
        return self.path / "plan.json"

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def pids(self) -> Path:
        return self.path / "pids"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    def file(self, name: str) -> Path:
        return self.path / name

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def exists(self) -> bool:
        return self.plan_file.exists()

    def prepare(self) -> None:
        """Start afresh: keep nothing of an earlier run but its trained model artifacts."""
        if self.path.exists():
            for child in self.path.iterdir():
                if child.name == "artifacts":
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        for folder in (self.path, self.pids, self.logs):
            folder.mkdir(parents=True, exist_ok=True)

    def plan(self) -> Plan:
        return Plan.load(self.plan_file)

    # -- PIDs --------------------------------------------------------------------------------
    def record_process(self, record: ProcessRecord) -> None:
        self.pids.mkdir(parents=True, exist_ok=True)
        write_json(self.pids / f"{record.name}.json", record.to_json())

    def forget_process(self, name: str) -> None:
        (self.pids / f"{name}.json").unlink(missing_ok=True)

    def processes(self) -> list[ProcessRecord]:
        if not self.pids.is_dir():
            return []
        records = []
        for path in sorted(self.pids.glob("*.json")):
            try:
                records.append(ProcessRecord.from_json(json.loads(path.read_text())))
            except (OSError, ValueError, KeyError):
                continue
        return records

    def daemon(self) -> ProcessRecord | None:
        return next((r for r in self.processes() if r.name == DAEMON), None)

    # -- state -------------------------------------------------------------------------------
    def write_state(self, state: dict[str, Any]) -> None:
        write_json(self.state_file, state)

    def read_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}
