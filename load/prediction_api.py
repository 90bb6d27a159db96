"""Locustfile: the prediction API under a phased, paced load, every request judged and recorded.

    locust -f load/ --host http://127.0.0.1:8000                  # web UI
    locust -f load/ --host http://127.0.0.1:8000 --headless       # phases from CHAOSLAB_* or a spec

See _plan.py for the settings, _records.py for the record format.
"""

from __future__ import annotations

import time

import gevent  # type: ignore[import-untyped]
from locust import FastHttpUser, LoadTestShape, events, task
from locust.env import Environment

from load import _hooks
from load._answers import judge
from load._dataset import load_entities
from load._pacing import Pacer
from load._recorder import VERDICT

SESSION = _hooks.install(events)
ENTITIES = load_entities()


class PredictionUser(FastHttpUser):
    """Asks for predictions of random entities of the data set, paced to the plan's rate."""

    def __init__(self, environment: Environment) -> None:
        plan = SESSION.plan(environment)
        self.network_timeout = plan.timeout
        self.connection_timeout = plan.timeout
        super().__init__(environment)
        self.rng, phase = SESSION.new_user(environment)
        self.pacer = Pacer(plan.period, plan.arrival, self.rng, phase)
        self.started = time.monotonic()

    def on_start(self) -> None:
        gevent.sleep(self.pacer.first(time.monotonic()))  # to the user's place on the pacing grid

    def wait_time(self) -> float:
        return self.pacer.wait(self.started, time.monotonic())

    @task
    def predict(self) -> None:
        entity_id = self.rng.choice(ENTITIES.ids)
        self.started = time.monotonic()
        with self.client.post(
            "/predict", json={"entity_id": entity_id}, name="/predict", catch_response=True
        ) as response:
            status = response.status_code
            body = response.content if 200 <= status < 300 else None
            error = getattr(response, "error", None)
            verdict = judge(status, body, error, entity_id, ENTITIES.label(entity_id))
            SESSION.count(verdict)
            response.request_meta["context"][VERDICT] = verdict
            if verdict.failed:
                response.failure(verdict.failure_message)
            else:
                response.success()


class PhasedShape(LoadTestShape):
    """Baseline, chaos, recovery (or the phases given): users for each phase's rate, then stop."""

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None, "Locust sets the runner before the first tick"
        plan = SESSION.plan(self.runner.environment)
        target = plan.target_at(self.get_run_time())  # type: ignore[no-untyped-call]
        return None if target is None else (target.users, plan.spawn_rate)
