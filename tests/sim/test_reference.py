"""The kernel against the naive per-request SimPy model: identical when nothing is random, and
statistically the same on a chaos scenario with random times."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from chaos.system import Cache, Load, load_system_profile
from sim.reference import simulate_reference
from sim.replication import simulate
from sim.result import summarise
from sim.scenario import PodFault, StoreFault
from sim.trace import Trace
from tests.sim.builders import profile, three_phases

ROOT = Path(__file__).resolve().parents[2]


def rows(trace: Trace) -> list[tuple[float, float, float, int]]:
    return sorted(
        zip(
            np.round(trace.send, 9).tolist(),
            np.round(trace.start, 9).tolist(),
            np.round(trace.end, 9).tolist(),
            trace.code.tolist(),
            strict=True,
        )
    )


def test_both_models_agree_request_by_request_when_nothing_is_random() -> None:
    # constant times, every pod hit, the cache always has the features: no random draw at all
    prof = profile(
        replicas=3,
        concurrency=2,
        max_queue=4,
        service=0.13,
        users=7,
        rps=40.0,
        retries=1,
        request_timeout=0.3,
        cache=Cache(hit_rate=1.0),
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
    assert [(e.time, e.kind, e.pod) for e in kernel.breaker_events] == [
        (e.time, e.kind, e.pod) for e in reference.breaker_events
    ]


def test_both_models_agree_statistically_on_a_chaos_scenario() -> None:
    system = load_system_profile(ROOT / "experiments" / "system.yaml")
    # Poisson users here (the closed ones are compared request by request above), model chaos on
    system = replace(system, model_chaos=replace(system.model_chaos, enabled=True)).with_load(
        Load(rps=200.0, users=40, arrival="poisson")
    )
    scenario = three_phases(
        15.0,
        25.0,
        15.0,
        pod_faults=(PodFault("pod-failure", 15.0, 12.0, "fixed-percent", "30"),),
        store_faults=(
            StoreFault("delay", 20.0, 15.0, latency=0.09, jitter=0.02, correlation=0.25),
            StoreFault("loss", 35.0, 5.0, loss=0.3),  # timeouts close connections: both follow them
        ),
    )
    metrics = [
        ("availability", "chaos"),
        ("latency_p50", "chaos"),
        ("latency_p95", "chaos"),
        ("latency_p99", "baseline"),
        ("cache_share", "chaos"),
        ("fallback_share", "chaos"),
        ("wrong_rate", "chaos"),
        ("ready_pods_min", "chaos"),
        ("breaker_first_trip", None),
    ]
    runs = 6
    values = {"kernel": np.zeros((runs, len(metrics))), "reference": np.zeros((runs, len(metrics)))}
    for i in range(runs):
        for name, model in (("kernel", simulate), ("reference", simulate_reference)):
            rep = summarise(system, scenario, model(system, scenario, np.random.default_rng(100 + i)))
            values[name][i] = [rep.metric(m, p) for m, p in metrics]
    k, r = values["kernel"], values["reference"]
    spread = np.sqrt((k.var(axis=0, ddof=1) + r.var(axis=0, ddof=1)) / runs)
    difference = np.abs(k.mean(axis=0) - r.mean(axis=0))
    for (metric, phase), diff, sd, mean in zip(metrics, difference, spread, k.mean(axis=0), strict=True):
        assert diff <= 4 * sd + 1e-9 * max(1.0, abs(mean)), (metric, phase, diff, sd)
