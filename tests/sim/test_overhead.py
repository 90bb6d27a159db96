"""The request overhead (profile `requestOverhead`): one draw added to every answer as the client
sees it, counted by the client's timeout; the same in the kernel and in the reference model. And
calibrated profiles in the Monte Carlo: replication i runs with parameter set i mod n."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from chaos.calibration import Calibration, ParameterSet
from chaos.system import Cache, Distribution, Load, SystemProfile, Variation, load_system_profile
from sim.exported import exported_counts
from sim.montecarlo import predict, replication_profiles
from sim.outcomes import OK, STATUS_MASK, TIMEOUT
from sim.reference import simulate_reference
from sim.replication import simulate
from sim.result import summarise
from sim.scenario import PodFault, StoreFault
from sim.trace import Trace
from sim.variates import sampler
from tests.sim.builders import constant, profile, run_for, three_phases
from tests.sim.test_reference import rows

ROOT = Path(__file__).resolve().parents[2]


def _served_rows(trace: Trace) -> list[tuple[float, float, float]]:
    return sorted(
        zip(
            np.round(trace.send, 9).tolist(),
            np.round(trace.start, 9).tolist(),
            np.round(trace.pod_end, 9).tolist(),
            strict=True,
        )
    )


def test_both_models_agree_request_by_request_with_a_constant_overhead() -> None:
    # as the request-by-request test of test_reference.py, with 60 ms outside the pods and a client
    # timeout the overhead can push an answer past
    prof = profile(
        replicas=3,
        concurrency=2,
        max_queue=4,
        service=0.13,
        users=7,
        rps=40.0,
        retries=1,
        request_timeout=0.3,
        client_timeout=0.335,
        cache=Cache(hit_rate=1.0),
        request_overhead=constant(0.06),
    )
    scenario = three_phases(
        10.0,
        40.0,
        20.0,
        pod_faults=(
            PodFault("pod-failure", 10.01, 12.0, "all"),
            PodFault("container-kill", 31.03, None, "all"),
        ),
        store_faults=(StoreFault("partition", 25.02, 10.0),),
    )
    offsets = [0.3, 0.9, 1.7]
    kernel = simulate(prof, scenario, np.random.default_rng(0), offsets)
    reference = simulate_reference(prof, scenario, np.random.default_rng(0), offsets)
    assert len(kernel) > 2000
    assert rows(kernel) == rows(reference)
    # and when each attempt ended on the pods' side, which the pods' /metrics count
    assert kernel.served is not None and reference.served is not None
    assert _served_rows(kernel) == _served_rows(reference)
    timeouts = (kernel.code & STATUS_MASK) == TIMEOUT
    assert timeouts.sum() > 0  # the overhead did push answers past the client's timeout


def test_both_models_agree_statistically_with_a_random_overhead() -> None:
    system = load_system_profile(ROOT / "experiments" / "system.yaml")
    system = replace(system, request_overhead=Distribution("lognormal", 0.004, 0.8)).with_load(
        Load(rps=100.0, users=20, arrival="poisson")
    )
    scenario = three_phases(
        10.0,
        15.0,
        10.0,
        pod_faults=(PodFault("pod-failure", 10.0, 8.0, "fixed-percent", "30"),),
        store_faults=(StoreFault("delay", 12.0, 8.0, latency=0.09, jitter=0.02, correlation=0.25),),
    )
    metrics = [
        ("latency_p50", "baseline"),
        ("latency_p95", "baseline"),
        ("latency_p95", "chaos"),
        ("availability", "chaos"),
        ("cache_share", "chaos"),
    ]
    runs = 5
    values = {"kernel": np.zeros((runs, len(metrics))), "reference": np.zeros((runs, len(metrics)))}
    for i in range(runs):
        for name, model in (("kernel", simulate), ("reference", simulate_reference)):
            rep = summarise(system, scenario, model(system, scenario, np.random.default_rng(200 + i)))
            values[name][i] = [rep.metric(m, p) for m, p in metrics]
    k, r = values["kernel"], values["reference"]
    spread = np.sqrt((k.var(axis=0, ddof=1) + r.var(axis=0, ddof=1)) / runs)
    for (metric, phase), diff, sd in zip(
        metrics, np.abs(k.mean(axis=0) - r.mean(axis=0)), spread, strict=True
    ):
        assert diff <= 4 * sd + 1e-9, (metric, phase, diff, sd)


def test_the_overhead_changes_only_what_the_client_sees() -> None:
    system = replace(load_system_profile(ROOT / "experiments" / "system.yaml"), request_overhead=None)
    overhead = Distribution("gamma", 0.005, 0.5)
    scenario = run_for(30.0)
    without = simulate(system, scenario, np.random.default_rng(4))
    with_it = simulate(replace(system, request_overhead=overhead), scenario, np.random.default_rng(4))
    # its draws come from their own generator: the pods do exactly the same
    assert np.array_equal(with_it.send, without.send) and np.array_equal(with_it.start, without.start)
    assert np.array_equal(with_it.pod_end, without.end)  # no client timeout cut anything here
    added = with_it.end - without.end
    assert added.min() > 0
    assert added.mean() == pytest.approx(0.005, rel=0.03)
    assert added.std() / added.mean() == pytest.approx(0.5, rel=0.05)
    # what the pods' /metrics count (for the alert rules) does not see it
    counted, plain = exported_counts(with_it, 30.0), exported_counts(without, 30.0)
    assert np.array_equal(counted.duration, plain.duration) and np.array_equal(counted.success, plain.success)


def test_the_clients_timeout_counts_the_overhead() -> None:
    prof = profile(service=0.05, client_timeout=0.1, request_overhead=constant(0.06))
    trace = simulate(prof, run_for(10.0), np.random.default_rng(0))
    assert ((trace.code & STATUS_MASK) == TIMEOUT).all()  # 50 ms in the pod + 60 ms outside > 100 ms
    assert np.allclose(trace.latency, 0.1)
    fine = simulate(replace(prof, request_overhead=constant(0.04)), run_for(10.0), np.random.default_rng(0))
    assert ((fine.code & STATUS_MASK) == OK).all() and np.allclose(fine.latency, 0.09)


def test_weibull_draws_have_the_asked_mean_and_cv() -> None:
    draws = np.array(sampler(Distribution("weibull", 0.004, 0.6), np.random.default_rng(1))(200_000))
    assert draws.min() > 0
    assert draws.mean() == pytest.approx(0.004, rel=0.01)
    assert draws.std() / draws.mean() == pytest.approx(0.6, rel=0.02)


def _system() -> SystemProfile:
    """The seed profile without run-to-run variation (tests/sim/test_variation.py has that) and
    without its request overhead (the parameter sets bring theirs)."""
    seed = load_system_profile(ROOT / "experiments" / "system.yaml")
    return replace(seed, variation=Variation(), request_overhead=None)


def _calibrated(overheads: list[float]) -> tuple[Calibration, ...]:
    system = _system()
    sets = tuple(
        ParameterSet(system.service.service_time, system.feature_store.latency, constant(o))
        for o in overheads
    )
    return (Calibration(parameter_sets=sets),)


def test_replication_i_runs_parameter_set_i_mod_n() -> None:
    system = _system()
    (calibration,) = _calibrated([0.0, 0.02, 0.04])
    profiles = replication_profiles(replace(system, calibration=calibration), 7)
    assert [p.request_overhead for p in profiles] == [constant(o) for o in (0.0, 0.02, 0.04) * 2 + (0.0,)]
    assert replication_profiles(system, 3) == [system] * 3


def test_a_prediction_from_a_calibrated_profile_carries_the_parameter_spread() -> None:
    system = _system()
    (calibration,) = _calibrated([0.0, 0.05])
    scenario = run_for(20.0)
    plain = predict(system, scenario, replications=4, seed=3, jobs=1).values("latency_p50", "run")
    spread = predict(replace(system, calibration=calibration), scenario, replications=4, seed=3, jobs=1)
    shifted = spread.values("latency_p50", "run")
    # replications 0 and 2 run set 0 (no overhead), 1 and 3 set 1 (50 ms): the same pods either way
    assert shifted[[0, 2]] == pytest.approx(plain[[0, 2]], abs=1e-12)
    assert shifted[[1, 3]] == pytest.approx(plain[[1, 3]] + 0.05, abs=1e-9)
    estimate = spread.metric("latency_p50", "run")
    assert estimate.low is not None and estimate.high is not None and estimate.high - estimate.low > 0.04
