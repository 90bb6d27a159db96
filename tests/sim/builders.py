"""Small system profiles and scenarios for simulator tests: constant times unless a test says otherwise."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chaos.system import (
    CircuitBreaker,
    Client,
    Distribution,
    FeatureStore,
    Lifecycle,
    Load,
    ModelChaos,
    Probe,
    Service,
    SystemProfile,
)
from sim.scenario import Phase, Scenario

UNLIMITED = 10**9


def constant(seconds: float) -> Distribution:
    return Distribution("constant", seconds, 0.0)


def profile(
    replicas: int = 3,
    concurrency: int = 2,
    max_queue: int = 64,
    service: Distribution | float = 0.05,
    store: Distribution | float = 0.0,
    request_timeout: float = 1.0,
    client_timeout: float = 2.0,
    retries: int = 0,
    users: int = 2,
    rps: float = 4.0,
    arrival: str = "closed",
    **parts: Any,
) -> SystemProfile:
    """A profile with constant service and store times; `parts` replace whole sections."""
    service_time = constant(service) if isinstance(service, float | int) else service
    store_time = constant(store) if isinstance(store, float | int) else store
    base = SystemProfile(
        service=Service(
            replicas=replicas,
            concurrency=concurrency,
            max_queue=max_queue,
            service_time=service_time,
            request_timeout=request_timeout,
        ),
        readiness=Probe(period=2.0, failure_threshold=3, success_threshold=1),
        lifecycle=Lifecycle(
            schedule_delay=1.0, startup_time=4.0, restart_backoff=10.0, restart_backoff_max=300.0
        ),
        feature_store=FeatureStore(latency=store_time, timeout=0.1),
        breaker=CircuitBreaker(
            failure_threshold=5, slow_call=0.08, reset_timeout=30.0, half_open_successes=1
        ),
        model_chaos=ModelChaos(enabled=False),
        client=Client(timeout=client_timeout, retries=retries),
        load=Load(rps=rps, users=users, arrival=arrival),
    )
    return replace(base, **parts)


def run_for(seconds: float, **fields: Any) -> Scenario:
    """One phase called "run" from 0 to `seconds`, with the given faults or load."""
    return Scenario(phases=(Phase("run", 0.0, seconds),), **fields)


def three_phases(baseline: float, chaos: float, recovery: float, **fields: Any) -> Scenario:
    b, c = baseline, baseline + chaos
    phases = (Phase("baseline", 0.0, b), Phase("chaos", b, c), Phase("recovery", c, c + recovery))
    return Scenario(phases=phases, **fields)
