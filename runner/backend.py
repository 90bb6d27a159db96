"""A backend's seams for the runner: today the embedded testbed (the Kubernetes backend comes next).

`open_testbed` finds the running testbed (a prerequisite error naming how to start one when none
runs); `testbed_seams` wires the runner to it: its local executor, its Prometheus, Locust against
its HAProxy frontend, the simulator's prediction, the system clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chaos.spec import Experiment
from runner.executors.base import SystemClock
from runner.executors.testbed import LocalTestbed, local_executor
from runner.load_driver import LoadRun
from runner.prediction import predict_run
from runner.prerequisites import START_HINT, prerequisite_error
from runner.prometheus import PrometheusApi
from runner.seams import LoadHandle, Predictor, Seams
from sim.forecast_summary import ForecastSummary
from testbed.client import TestbedNotRunningError
from testbed.rundir import default_run_dir


@contextmanager
def open_testbed(run_dir: Path | None) -> Iterator[LocalTestbed]:
    """The testbed running from `run_dir` (default: runs/testbed), closed after."""
    try:
        testbed = LocalTestbed.open((run_dir or default_run_dir()).resolve())
    except TestbedNotRunningError as exc:
        raise prerequisite_error(f"no testbed is running: {exc}", START_HINT) from exc
    try:
        yield testbed
    finally:
        testbed.close()


@contextmanager
def testbed_seams(
    testbed: LocalTestbed, seed: int, predict: bool, replications: int, jobs: int | None
) -> Iterator[Seams]:
    """The runner's seams on the embedded testbed (Prometheus' connection closed after)."""

    def start_load(folder: Path, experiment: Experiment, settle: float) -> LoadHandle:
        return LoadRun.start(testbed.service_url, folder, experiment, seed=seed, settle=settle)

    predictor: Predictor | None = None
    if predict:

        def predictor(experiment: Experiment) -> ForecastSummary:
            return predict_run(
                experiment, replications=replications, seed=seed, jobs=jobs, rules=testbed.rules_file
            )

    prometheus = PrometheusApi(testbed.prometheus_url)
    try:
        yield Seams(
            clock=SystemClock(),
            executor=local_executor(testbed.client.run_dir, seed=seed),
            start_load=start_load,
            prometheus=prometheus,
            testbed=testbed,
            predictor=predictor,
        )
    finally:
        prometheus.close()
