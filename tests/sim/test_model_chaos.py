"""In-app model chaos in the simulator: fallback answers, hung calls cut at the deadline, wrong answers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from chaos.system import ModelChaos
from sim import outcomes as oc
from sim.replication import simulate
from tests.sim.builders import profile, run_for

CHAOS = ModelChaos(
    enabled=True, exception_rate=0.1, timeout_rate=0.05, wrong_prediction_rate=0.02, model_deadline=0.2
)


def test_model_chaos_degrades_answers_at_its_rates_without_errors() -> None:
    # enough slots that nobody queues: every latency is the request's own work
    prof = profile(replicas=10, concurrency=20, users=50, rps=500.0, service=0.01, model_chaos=CHAOS)
    tr = simulate(prof, run_for(100.0), np.random.default_rng(2), [0.5] * 10)
    assert (oc.status(tr.code) == oc.OK).all()
    model = oc.model(tr.code)
    n = len(tr)
    for value, rate in ((oc.FALLBACK_ERROR, 0.1), (oc.FALLBACK_TIMEOUT, 0.05), (oc.WRONG, 0.02)):
        assert np.mean(model == value) == pytest.approx(rate, abs=4 * np.sqrt(rate / n))
    hung = model == oc.FALLBACK_TIMEOUT
    assert np.allclose(tr.latency[hung], 0.21)  # service time, then the hang cut at the model deadline
    assert np.allclose(tr.latency[~hung], 0.01)


def test_model_chaos_off_in_the_scenario_overrides_the_profile() -> None:
    prof = profile(replicas=2, users=10, rps=100.0, model_chaos=CHAOS)
    as_profiled = simulate(prof, run_for(20.0), np.random.default_rng(2), [0.5] * 2)
    assert (oc.model(as_profiled.code) != oc.PRIMARY).any()  # the profile alone injects
    tr = simulate(prof, run_for(20.0, model_chaos=False), np.random.default_rng(2), [0.5] * 2)
    assert len(tr) > 1000 and (tr.code == 0).all()  # every answer fresh, from the primary model


def test_model_chaos_on_in_the_scenario_overrides_the_profile() -> None:
    prof = profile(replicas=2, users=10, rps=100.0, model_chaos=replace(CHAOS, enabled=False))
    as_profiled = simulate(prof, run_for(20.0), np.random.default_rng(2), [0.5] * 2)
    assert len(as_profiled) > 1000 and (oc.model(as_profiled.code) == oc.PRIMARY).all()
    tr = simulate(prof, run_for(20.0, model_chaos=True), np.random.default_rng(2), [0.5] * 2)
    assert {oc.FALLBACK_ERROR, oc.FALLBACK_TIMEOUT, oc.WRONG} <= set(oc.model(tr.code).tolist())
