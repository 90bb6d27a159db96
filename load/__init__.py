"""The load: Locust locustfiles for `locust -f load/`, and the load plan and request-record format.

Locust takes every module here whose name does not start with `_` as a locustfile
(`prediction_api.py`); the helpers start with `_` so that it does not. This package's public API
is what the runner and the analysis need, importable without Locust (importing Locust patches the
standard library with gevent, so nothing here imports it):

- the plan: `LoadPlan`, `Phase`, `PlanError`, `plan_of_experiment` (from an experiment spec),
  `MAX_SPAWN_RATE` (users Locust is asked to start per second, at most);
- the per-request record: `Record`, `RecordTail` (new records while a run goes on),
  `read_records`, `read_run_marker` and the file names `PART_GLOB`, `RUN_MARKER`, `FLUSH_INTERVAL`.

`LOCUSTFILES` is this folder, the `-f` argument for Locust (also in a non-editable install).
"""

from __future__ import annotations

from pathlib import Path

from load._plan import MAX_SPAWN_RATE, LoadPlan, Phase, PlanError, plan_of_experiment
from load._records import (
    FLUSH_INTERVAL,
    PART_GLOB,
    RUN_MARKER,
    Record,
    RecordFormatError,
    RecordTail,
    read_records,
    read_run_marker,
)

LOCUSTFILES = Path(__file__).resolve().parent

__all__ = [
    "FLUSH_INTERVAL",
    "LOCUSTFILES",
    "MAX_SPAWN_RATE",
    "PART_GLOB",
    "RUN_MARKER",
    "LoadPlan",
    "Phase",
    "PlanError",
    "Record",
    "RecordFormatError",
    "RecordTail",
    "plan_of_experiment",
    "read_records",
    "read_run_marker",
]
