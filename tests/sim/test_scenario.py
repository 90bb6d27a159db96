"""Scenario values are validated on construction, naming the bad value."""

from __future__ import annotations

import pytest

from chaos.errors import ChaosLabError
from chaos.system import Load
from sim.scenario import InvalidScenarioError, Phase, PodFault, Scenario, StoreFault


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PodFault("pod-explode", 1.0), "action='pod-explode' must be one of"),
        (lambda: PodFault("pod-kill", -1.0), "start=-1.0 must be >= 0"),
        (lambda: PodFault("pod-failure", 1.0, 0.0), "duration=0.0 must be > 0"),
        (
            lambda: PodFault("pod-failure", 1.0, 5.0, "fixed-percent", "130"),
            "value='130' must be a percentage",
        ),
        (lambda: PodFault("pod-failure", 1.0, 5.0, "fixed", None), "value=None must be a whole number"),
        (lambda: StoreFault("delay", 1.0, latency=-0.5), "latency=-0.5 must be >= 0"),
        (lambda: StoreFault("delay", 1.0, correlation=1.5), "correlation=1.5 must be in [0, 1]"),
        (lambda: StoreFault("loss", 1.0), "loss=0.0 must be > 0 for action loss"),
        (lambda: StoreFault("corrupt", 1.0), "action='corrupt' must be one of"),
        (lambda: Phase("chaos", 10.0, 5.0), "end=5.0 must be > start=10.0"),
        (lambda: Phase("", 0.0, 5.0), "name='' must be a non-empty string"),
        (lambda: Scenario(()), "phases=() must name at least one phase"),
        (lambda: Scenario((Phase("a", 0, 10), Phase("a", 10, 20))), "must have distinct names"),
        (lambda: Scenario((Phase("a", 0, 10), Phase("b", 5, 20))), "start=5 must be >= end=10"),
        (
            lambda: Scenario((Phase("a", 0, 10),), (PodFault("pod-kill", 10.0),)),
            "start=10.0 must be < the run's end",
        ),
        (lambda: Scenario((Phase("a", 0, 10),), load=Load(0.0, 10)), "rps=0.0 must be > 0"),
        (lambda: Scenario((Phase("a", 0, 10),), load=Load(10.0, 0)), "users=0 must be >= 1"),
        (
            lambda: Scenario((Phase("a", 0, 10),), load=Load(10.0, 5, "bursty")),
            "arrival='bursty' must be one of",
        ),
    ],
)
def test_bad_values_are_named(make: object, message: str) -> None:
    with pytest.raises(InvalidScenarioError) as caught:
        make()  # type: ignore[operator]
    assert message in str(caught.value)
    assert isinstance(caught.value, ChaosLabError) and isinstance(caught.value, ValueError)


def test_fault_windows() -> None:
    scenario = Scenario(
        (Phase("baseline", 0, 60), Phase("chaos", 60, 360), Phase("recovery", 360, 540)),
        pod_faults=(PodFault("pod-kill", 100.0), PodFault("pod-failure", 60.0, 120.0, "all")),
        store_faults=(StoreFault("delay", 90.0, None, latency=0.2),),
    )
    assert scenario.horizon == 540
    assert scenario.fault_start() == 60.0
    assert scenario.fault_end() == 540.0  # the delay lasts until the end of the run
    assert scenario.store_fault_start() == 90.0
    assert PodFault("pod-kill", 100.0, 30.0).end(540) == 100.0  # instantaneous: duration has no effect
    assert PodFault("pod-failure", 500.0, 100.0).end(540) == 540
    assert scenario.phase("chaos") == Phase("chaos", 60, 360)
    with pytest.raises(InvalidScenarioError, match="phase='steady' is not one of"):
        scenario.phase("steady")


def test_a_scenario_without_faults_has_no_fault_window() -> None:
    scenario = Scenario((Phase("run", 0, 10),))
    assert not scenario.has_faults
    assert scenario.fault_start() is None and scenario.fault_end() is None
