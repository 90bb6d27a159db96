"""The harness inside Locust: its options, the request recorder and the answer counts.

Everything is attached through Locust events (`init_command_line_parser`, `init`, `test_start`,
`request`, `test_stop`, `report_to_master`, `worker_report`, `quitting`), one `LoadSession` per
process. Every option is also an environment variable and a config-file key (Locust's parser does
that for `env_var`). In a distributed run the master passes its `--chaoslab-*` values to the workers.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import time
from itertools import count
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust.env import Environment
from locust.event import Events
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from load._answers import AnswerTally, Verdict
from load._pacing import user_phase
from load._plan import SETTINGS, LoadPlan, PlanError, Settings, env_name, resolve_plan
from load._recorder import RequestRecorder
from load._records import FLUSH_INTERVAL, RecordWriter, part_name, write_run_marker

logger = logging.getLogger("chaoslab.load")

REPORT_KEY = "chaoslab_answers"
ANSWERS_ROUTE = "/chaoslab/answers"
_HELP = {
    "spec": "experiment spec (YAML) to take phases and load from; needs the chaoslab package",
    "phases": "phases as name=duration[@rps],...: e.g. baseline=60s,chaos=2m,recovery=60s",
    "rps": "requests per second of all users together",
    "users": "number of users",
    "arrival": "closed (constant pacing) or poisson (open arrivals)",
    "timeout": "client timeout per request, e.g. 2s",
}


def add_arguments(parser: Any) -> None:
    """The `--chaoslab-*` options, each also read from its CHAOSLAB_* environment variable."""
    for key in SETTINGS:
        parser.add_argument(f"--chaoslab-{key}", env_var=env_name(key), default="", help=_HELP[key])
    parser.add_argument(
        "--chaoslab-record-dir",
        env_var="CHAOSLAB_RECORD_DIR",
        default="",
        help="directory for the per-request record (one part per process); empty: not recorded",
    )
    parser.add_argument(
        "--chaoslab-seed", env_var="CHAOSLAB_SEED", default="", help="seed for entity choice and arrivals"
    )


class LoadSession:
    """The harness state of one Locust process."""

    def __init__(self) -> None:
        self.tally = AnswerTally()
        self.recorder: RequestRecorder | None = None
        self._request_hook: Any = None
        self._flusher: Any = None  # a gevent greenlet
        self._users = count()
        self._summary_logged = False

    # -- wiring --------------------------------------------------------------------------------
    def install(self, events: Events) -> LoadSession:
        hooks: Any = events  # Locust's EventHook methods are untyped
        hooks.init_command_line_parser.add_listener(add_arguments)
        hooks.init.add_listener(self.on_init)
        hooks.test_start.add_listener(self.on_test_start)
        hooks.test_stop.add_listener(self.on_test_stop)
        hooks.quitting.add_listener(self.on_quitting)
        hooks.report_to_master.add_listener(self.on_report_to_master)
        hooks.worker_report.add_listener(self.on_worker_report)
        return self

    def plan(self, environment: Environment) -> LoadPlan:
        return resolve_plan(Settings.from_options(environment.parsed_options))

    def new_user(self, environment: Environment) -> tuple[random.Random, float]:
        """A random source and a pacing phase per user: the source reproducible when
        --chaoslab-seed is set, the phase the golden-ratio sequence over this process' users
        (shifted by a per-process offset on a distributed run's workers, so theirs interleave)."""
        seed = getattr(environment.parsed_options, "chaoslab_seed", "")
        n = next(self._users)
        rng = random.Random(f"{seed}/{part_name()}/{n}") if seed else random.Random()
        offset = 0.0
        if isinstance(environment.runner, WorkerRunner):
            offset = random.Random(f"{seed}/{part_name()}/phase").random()
        return rng, user_phase(n, offset)

    def count(self, verdict: Verdict) -> None:
        self.tally.add(verdict)

    # -- listeners ------------------------------------------------------------------------------
    def on_init(self, environment: Environment, **_: Any) -> None:
        try:
            plan = self.plan(environment)
        except PlanError as exc:
            logger.error("PlanError: %s", exc)
            sys.exit(1)
        logger.info(
            "load plan: %s at %g rps, %d users, %s arrivals",
            ", ".join(f"{p.name} {p.duration:g}s" for p in plan.phases),
            plan.rps,
            plan.users,
            plan.arrival,
        )
        if not isinstance(environment.runner, WorkerRunner):
            gevent.signal_handler(signal.SIGTERM, self._quit_on_sigterm, environment)
        app = environment.web_ui.app if environment.web_ui is not None else None
        if app is not None:
            app.add_url_rule(ANSWERS_ROUTE, "chaoslab_answers", lambda: self.tally.as_dict())

    def on_test_start(self, environment: Environment, **_: Any) -> None:
        self._close_recorder()
        self.tally.counts.clear()
        self._summary_logged = False
        started = time.time()
        plan = self.plan(environment)
        directory = self.record_dir(environment)
        if directory is None:
            return
        if not isinstance(environment.runner, WorkerRunner):
            write_run_marker(directory, started, plan.describe())
        if isinstance(environment.runner, MasterRunner):
            return  # the master sends no requests; its workers record them
        writer = RecordWriter(directory / part_name())
        self.recorder = RequestRecorder(writer, plan, started)
        self._request_hook = environment.events.request
        self._request_hook.add_listener(self.recorder.on_request)
        self._flusher = gevent.spawn(self._flush_regularly, writer)
        logger.info("recording requests to %s", writer.path)

    def on_test_stop(self, environment: Environment, **_: Any) -> None:
        self._close_recorder()
        if isinstance(environment.runner, LocalRunner):
            self._log_summary()

    def on_quitting(self, environment: Environment, **_: Any) -> None:
        self._close_recorder()
        if isinstance(environment.runner, MasterRunner):  # after the workers' final reports
            self._log_summary()

    def on_report_to_master(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        data[REPORT_KEY] = self.tally.take()

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        self.tally.merge(data.get(REPORT_KEY, {}))

    # -- internals ------------------------------------------------------------------------------
    def _log_summary(self) -> None:
        if not self._summary_logged:  # a test stops once, but Locust may report stopping twice
            logger.info("chaoslab: %s", self.tally.summary())
            self._summary_logged = True

    @staticmethod
    def _quit_on_sigterm(environment: Environment) -> None:
        """End a shape-driven run cleanly on SIGTERM (as `kubectl delete` or the driver send it).

        A headless Locust waits for its shape before it installs its own SIGTERM handler, so until
        then SIGTERM would kill it without stopping users, final statistics or flushed records."""
        runner = environment.runner
        if runner is not None and runner.shape_greenlet is not None:
            logger.info("SIGTERM: stopping the test")
            runner.quit()

    @staticmethod
    def record_dir(environment: Environment) -> Path | None:
        """The record directory: the option (the master's, on workers), else this process's env."""
        value = getattr(environment.parsed_options, "chaoslab_record_dir", "") or os.environ.get(
            "CHAOSLAB_RECORD_DIR", ""
        )
        return Path(value) if value else None

    @staticmethod
    def _flush_regularly(writer: RecordWriter) -> None:
        while not writer.closed:
            gevent.sleep(FLUSH_INTERVAL)
            if not writer.closed:
                writer.flush()

    def _close_recorder(self) -> None:
        if self._flusher is not None:
            self._flusher.kill(block=False)
            self._flusher = None
        if self.recorder is not None:
            if self._request_hook is not None:
                self._request_hook.remove_listener(self.recorder.on_request)
                self._request_hook = None
            self.recorder.writer.close()
            self.recorder = None


def install(events: Events) -> LoadSession:
    """Attach a new session to Locust's events; the locustfile calls this once."""
    return LoadSession().install(events)
