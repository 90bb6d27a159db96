"""Reading a pod's circuit-breaker state from its metrics."""

from __future__ import annotations

from testbed.status import breaker_state

METRICS = """# HELP mlservice_circuit_breaker_state 1 for the current state
# TYPE mlservice_circuit_breaker_state gauge
mlservice_circuit_breaker_state{state="closed"} 0.0
mlservice_circuit_breaker_state{state="open"} 1.0
mlservice_circuit_breaker_state{state="half_open"} 0.0
"""


def test_the_state_set_to_one_is_the_breaker_state() -> None:
    assert breaker_state(METRICS) == "open"
    assert breaker_state(METRICS.replace("1.0", "0.0").replace('"closed"} 0.0', '"closed"} 1.0')) == "closed"


def test_a_pod_without_the_metric_is_unknown() -> None:
    assert breaker_state("# nothing here\n") == "?"
