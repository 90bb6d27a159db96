"""What the simulator is asked to play: phases, pod faults, feature-store faults and the load.

Pure frozen values, validated on construction; times are seconds from the start of the run and a
fault whose `duration` is None lasts until the end of the run. Which pods a pod fault hits is not
part of the scenario: the selector mode is resolved per replication, at random, as Chaos Mesh does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from chaos.errors import SimulationError
from chaos.selection import check_mode
from chaos.system import ARRIVALS, Load, ModelChaos

POD_ACTIONS = ("pod-failure", "pod-kill", "container-kill")
STORE_ACTIONS = ("delay", "loss", "partition")
INSTANT_ACTIONS = ("pod-kill", "container-kill")


class InvalidScenarioError(SimulationError, ValueError):
    """A scenario value is impossible; the message names the field and the value."""


def _check_time(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise InvalidScenarioError(f"{name}={value} must be >= 0")


def _check_duration(duration: float | None) -> None:
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise InvalidScenarioError(f"duration={duration} must be > 0 (or None: until the end of the run)")


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise InvalidScenarioError(f"{name}={value} must be in [0, 1]")


def _check_load(load: Load) -> None:
    if not (math.isfinite(load.rps) and load.rps > 0):
        raise InvalidScenarioError(f"rps={load.rps} must be > 0")
    if load.users < 1:
        raise InvalidScenarioError(f"users={load.users} must be >= 1")
    if load.arrival not in ARRIVALS:
        raise InvalidScenarioError(f"arrival={load.arrival!r} must be one of {', '.join(ARRIVALS)}")


@dataclass(frozen=True)
class PodFault:
    """A Chaos Mesh PodChaos on the service pods.

    `pod-failure` lasts `duration`; `pod-kill` and `container-kill` are instantaneous actions (their
    duration has no effect, as in Chaos Mesh). `mode`/`value` select the pods as Chaos Mesh does.
    """

    action: str
    start: float
    duration: float | None = None
    mode: str = "one"
    value: str | None = None

    def __post_init__(self) -> None:
        if self.action not in POD_ACTIONS:
            raise InvalidScenarioError(f"action={self.action!r} must be one of {', '.join(POD_ACTIONS)}")
        _check_time("start", self.start)
        _check_duration(self.duration)
        problem = check_mode(self.mode, self.value)
        if problem:
            raise InvalidScenarioError(problem)

    @property
    def instantaneous(self) -> bool:
        return self.action in INSTANT_ACTIONS

    def end(self, horizon: float) -> float:
        """When the fault stops acting: its start for instant actions, else start + duration."""
        if self.instantaneous:
            return self.start
        return horizon if self.duration is None else min(horizon, self.start + self.duration)


@dataclass(frozen=True)
class StoreFault:
    """A Chaos Mesh NetworkChaos on the path to the feature store.

    `delay`: every call takes `latency` +/- `jitter` longer (normal jitter, successive draws coupled
    by `correlation`, never below zero). `loss`: a share `loss` of request segments is lost (successive
    losses coupled by `correlation`) and retransmitted after TCP's 200 ms, doubling, so with the usual
    per-call timeouts a lost call times out. `partition`: every call times out. `correlation`, like
    `loss`, is a fraction in [0, 1] (Chaos Mesh writes percentages).
    """

    action: str
    start: float
    duration: float | None = None
    latency: float = 0.0
    jitter: float = 0.0
    correlation: float = 0.0
    loss: float = 0.0

    def __post_init__(self) -> None:
        if self.action not in STORE_ACTIONS:
            raise InvalidScenarioError(f"action={self.action!r} must be one of {', '.join(STORE_ACTIONS)}")
        _check_time("start", self.start)
        _check_duration(self.duration)
        _check_time("latency", self.latency)
        _check_time("jitter", self.jitter)
        _check_fraction("correlation", self.correlation)
        _check_fraction("loss", self.loss)
        if self.action == "loss" and self.loss <= 0:
            raise InvalidScenarioError(f"loss={self.loss} must be > 0 for action loss")

    def end(self, horizon: float) -> float:
        return horizon if self.duration is None else min(horizon, self.start + self.duration)


@dataclass(frozen=True)
class Template:
    """What the pods of one pod template revision do differently: their in-app model chaos (None: the
    profile's) and the model version they serve (None: the default one)."""

    model_chaos: ModelChaos | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class RolloutFault:
    """A rolling update of the service's Deployment to `template` at `start`, rolled back to the
    original template at `start + duration` (None: never, within the run). The Deployment's
    strategy (surge, unavailable) is the system profile's `service.strategy`."""

    start: float
    template: Template
    duration: float | None = None

    def __post_init__(self) -> None:
        _check_time("start", self.start)
        _check_duration(self.duration)

    def end(self, horizon: float) -> float:
        return horizon if self.duration is None else min(horizon, self.start + self.duration)


@dataclass(frozen=True)
class Phase:
    """A named stretch of the run [start, end); requests belong to the phase they were sent in."""

    name: str
    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidScenarioError(f"name={self.name!r} must be a non-empty string")
        _check_time("start", self.start)
        if not (math.isfinite(self.end) and self.end > self.start):
            raise InvalidScenarioError(f"end={self.end} must be > start={self.start} (phase {self.name})")

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Scenario:
    """Phases in time order (no overlap), the faults, and optionally a load and model-chaos switch
    that replace the system profile's (None: use the profile's)."""

    phases: tuple[Phase, ...]
    pod_faults: tuple[PodFault, ...] = ()
    store_faults: tuple[StoreFault, ...] = ()
    load: Load | None = None
    model_chaos: bool | None = None
    rollouts: tuple[RolloutFault, ...] = ()
    tooling_lag: float = 0.0
    """How much of each fault's start is the chaos tooling's lag (scenario_from_experiment puts
    `faultTiming.applyDelay` there); `variation.faultLag` varies that part between runs."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "phases", tuple(self.phases))
        object.__setattr__(self, "pod_faults", tuple(self.pod_faults))
        object.__setattr__(self, "store_faults", tuple(self.store_faults))
        object.__setattr__(self, "rollouts", tuple(self.rollouts))
        if len(self.rollouts) > 1:
            raise InvalidScenarioError(f"rollouts={len(self.rollouts)} must be at most one")
        if not self.phases:
            raise InvalidScenarioError("phases=() must name at least one phase")
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise InvalidScenarioError(f"phases={names} must have distinct names")
        for before, after in zip(self.phases, self.phases[1:], strict=False):
            if after.start < before.end:
                raise InvalidScenarioError(
                    f"phase {after.name!r} start={after.start} must be >= end={before.end} of {before.name!r}"
                )
        if self.load is not None:
            _check_load(self.load)
        horizon = self.horizon
        for fault in self._faults():
            if fault.start >= horizon:
                raise InvalidScenarioError(f"start={fault.start} must be < the run's end {horizon}")

    @property
    def horizon(self) -> float:
        """The end of the run: the end of the last phase."""
        return self.phases[-1].end

    def lagged(self, delta: float) -> Scenario:
        """This scenario with every fault acting (and stopping) `delta` seconds later, kept inside
        the run: one run's chaos tooling slower or faster than the profile's `faultTiming`."""
        if delta == 0.0:
            return self
        latest = math.nextafter(self.horizon, 0.0)

        def moved(start: float) -> float:
            return min(max(start + delta, 0.0), latest)

        return replace(
            self,
            pod_faults=tuple(replace(f, start=moved(f.start)) for f in self.pod_faults),
            store_faults=tuple(replace(f, start=moved(f.start)) for f in self.store_faults),
            rollouts=tuple(replace(f, start=moved(f.start)) for f in self.rollouts),
        )

    def phase(self, name: str) -> Phase:
        for phase in self.phases:
            if phase.name == name:
                return phase
        raise InvalidScenarioError(f"phase={name!r} is not one of {[p.name for p in self.phases]}")

    def _faults(self) -> tuple[PodFault | StoreFault | RolloutFault, ...]:
        return (*self.pod_faults, *self.store_faults, *self.rollouts)

    @property
    def has_faults(self) -> bool:
        return bool(self.pod_faults or self.store_faults or self.rollouts)

    @property
    def model_version(self) -> str | None:
        """The model version a rollout serves (None: only the default one)."""
        return next((t.model_version for t in self.templates if t.model_version is not None), None)

    @property
    def templates(self) -> tuple[Template, ...]:
        """The pod template revisions, the original first (index 0), then each rollout's."""
        return (Template(), *(r.template for r in self.rollouts))

    def fault_start(self) -> float | None:
        """When the first fault starts (None without faults)."""
        starts = [f.start for f in self._faults()]
        return min(starts) if starts else None

    def fault_end(self) -> float | None:
        """When the last fault stops acting (None without faults)."""
        horizon = self.horizon
        ends = [f.end(horizon) for f in self._faults()]
        return max(ends) if ends else None

    def store_fault_start(self) -> float | None:
        starts = [f.start for f in self.store_faults]
        return min(starts) if starts else None
