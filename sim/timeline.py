"""The cluster's timeline in SimPy: chaos injection and recovery, pod lifecycle, readiness checks,
and the load balancer's rotation.

Nothing here depends on the requests, so the whole timeline of a replication is played first and
the request kernel then walks the requests through it in time order. The per-request reference model
runs the same `Cluster` in its own environment and listens to it instead.

Semantics (Chaos Mesh, kubelet, ReplicaSet, HAProxy):
- pod-failure: the pod stays but its container restarts into a state that serves nothing; it is not
  recreated while the fault lasts; when the fault ends the container restarts again and the pod
  serves after `startupTime`.
- pod-kill: the pod is deleted; the ReplicaSet's new pod serves after `scheduleDelay + startupTime`.
- container-kill: the kubelet restarts the container after its CrashLoopBackOff (the first crash at
  once, then `restartBackoff`, doubling with every further crash of the same pod up to
  `restartBackoffMax`, forgotten once the container ran for 2 x `restartBackoffMax`), and it serves
  `startupTime` after the restart. This is the kubelet's rule, and the testbed's (testbed/replicaset.py).
- readiness checks: every pod is checked every `period` (each pod at its own phase, `offsets`); a
  check sees every lifecycle change of the same instant (checks run after all other events at equal
  times). The load balancer (HAProxy's health checks) takes a pod out of rotation after
  `failureThreshold` consecutive failed checks and back after `successThreshold` passing ones; it
  learns nothing any other way.
- ready pods (the Ready condition the kubelet reports, what `kubectl get pods` and the runner count):
  a pod is not ready from the moment its container stops or it is deleted, and ready again after
  `successThreshold` consecutive passing checks once it serves.
- selection: Chaos Mesh's selector modes as `chaos.selection` implements them (random-max-percent
  draws a percentage in 0..value and takes ceil(n * percentage / 100) pods, which can be none).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import numpy as np
import simpy
from simpy.events import EventPriority

from chaos.selection import pick
from chaos.system import SystemProfile
from sim.scenario import PodFault, Scenario

log = logging.getLogger(__name__)

POD_DOWN, POD_UP, LB_OUT, LB_IN = 0, 1, 2, 3  # kernel change codes, applied in this order at ties
_CHANGE_CODES = {"pod-down": POD_DOWN, "pod-up": POD_UP, "lb-out": LB_OUT, "lb-in": LB_IN}
_LATE = EventPriority(2)  # after SimPy's NORMAL (1) and URGENT (0) events of the same instant

Listener = Callable[[float, str, int], None]


@dataclass(frozen=True)
class Event:
    """Something that happened at `time`: inject/recover (a fault), pod-down/pod-up, lb-out/lb-in,
    breaker-open/breaker-half-open/breaker-closed. `pod` is None for fault-level events."""

    time: float
    kind: str
    pod: int | None = None
    detail: str = ""


def _late(env: simpy.Environment, delay: float) -> simpy.Event:
    """A timeout that fires after every other event scheduled for the same instant."""
    event = simpy.Event(env)
    event._ok = True
    event._value = None
    env.schedule(event, _LATE, delay)
    return event


class _Draws:
    """numpy's Generator as the `randrange` source `chaos.selection` expects."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng

    def randrange(self, stop: int) -> int:
        return int(self._rng.integers(stop))


class Cluster:
    """The service's pods and the load balancer's view of them, as SimPy processes in `env`."""

    def __init__(
        self,
        env: simpy.Environment,
        profile: SystemProfile,
        offsets: Sequence[float],
        listener: Listener | None = None,
    ) -> None:
        n = profile.service.replicas
        if len(offsets) != n:
            raise ValueError(f"offsets has {len(offsets)} values, must have one per pod ({n})")
        self.env = env
        self.profile = profile
        self.up = [True] * n  # the pod's container serves (and passes readiness)
        self.ready = [True] * n  # the pod's Ready condition
        self.in_rotation = [True] * n
        self.events: list[Event] = []
        self._listener = listener
        self._generation = [0] * n  # bumps on every lifecycle action; stale starts do nothing
        self._paused = [0] * n  # pod-failure faults holding the pod
        self._crashes = [0] * n  # container crashes of the current pod (kubelet back-off)
        self._running_since = [0.0] * n  # when the container last started serving
        self._passing = [0] * n  # consecutive passing checks of the current container
        period = profile.readiness.period
        for pod, offset in enumerate(offsets):
            if not 0 <= offset < period:
                raise ValueError(f"offsets[{pod}]={offset} must be in [0, period={period})")
            env.process(self._checks(pod, offset))

    @property
    def replicas(self) -> int:
        return len(self.up)

    # -- records -----------------------------------------------------------------------------
    def _record(self, kind: str, pod: int | None, detail: str = "") -> None:
        now = float(self.env.now)
        self.events.append(Event(now, kind, pod, detail))
        if pod is not None and self._listener is not None:
            self._listener(now, kind, pod)

    def _set_up(self, pod: int, up: bool, why: str) -> None:
        if self.up[pod] != up:
            self.up[pod] = up
            self._record("pod-up" if up else "pod-down", pod, why)
            if up:
                self._running_since[pod] = float(self.env.now)
        if not up:
            self._passing[pod] = 0  # a new container: the kubelet starts counting again
            if self.ready[pod]:
                self.ready[pod] = False
                self._record("pod-not-ready", pod, why)

    def _start_after(self, pod: int, delay: float, why: str) -> Generator[simpy.Event, None, None]:
        generation = self._generation[pod]
        yield self.env.timeout(delay)
        if self._generation[pod] == generation and not self._paused[pod]:
            self._set_up(pod, True, why)

    def _restart(self, pod: int, delay: float, why: str) -> None:
        self._generation[pod] += 1
        self._set_up(pod, False, why)
        self.env.process(self._start_after(pod, delay, why))

    # -- chaos actions -----------------------------------------------------------------------
    def fail(self, pod: int) -> None:
        """pod-failure starts: the container restarts into a state that serves nothing."""
        self._paused[pod] += 1
        self._generation[pod] += 1
        self._set_up(pod, False, "pod-failure")

    def unfail(self, pod: int) -> None:
        """pod-failure ends: the container restarts and serves after the start-up time."""
        if not self._paused[pod]:
            return  # the pod was deleted meanwhile; its replacement was never paused
        self._paused[pod] -= 1
        if not self._paused[pod]:
            self._restart(pod, self.profile.lifecycle.startup_time, "pod-failure recovered")

    def kill(self, pod: int) -> None:
        """pod-kill: the pod is deleted; the ReplicaSet schedules and starts a new one."""
        life = self.profile.lifecycle
        self._paused[pod] = 0
        self._crashes[pod] = 0
        self._restart(pod, life.schedule_delay + life.startup_time, "pod-kill")

    def kill_container(self, pod: int) -> None:
        """container-kill: the kubelet restarts the container after its CrashLoopBackOff."""
        life = self.profile.lifecycle
        ran = float(self.env.now) - self._running_since[pod]
        if self.up[pod] and ran >= 2 * life.restart_backoff_max:
            self._crashes[pod] = 0
        self._crashes[pod] += 1
        crashes = self._crashes[pod]
        backoff = (
            0.0 if crashes == 1 else min(life.restart_backoff * 2 ** (crashes - 2), life.restart_backoff_max)
        )
        self._restart(pod, backoff + life.startup_time, "container-kill")

    def inject(self, fault: PodFault, rng: np.random.Generator, horizon: float) -> None:
        """Play `fault` in this cluster: select its pods at its start, act, and recover at its end."""
        self.env.process(self._fault(fault, rng, horizon))

    def _fault(
        self, fault: PodFault, rng: np.random.Generator, horizon: float
    ) -> Generator[simpy.Event, None, None]:
        yield self.env.timeout(fault.start)
        pods = sorted(pick(fault.mode, fault.value, range(self.replicas), _Draws(rng)))
        self._record("inject", None, f"{fault.action} pods={pods}")
        action = {"pod-failure": self.fail, "pod-kill": self.kill, "container-kill": self.kill_container}
        for pod in pods:
            action[fault.action](pod)
        end = fault.end(horizon)
        if fault.action != "pod-failure" or end >= horizon:
            return
        yield self.env.timeout(end - fault.start)
        self._record("recover", None, f"{fault.action} pods={pods}")
        for pod in pods:
            self.unfail(pod)

    # -- readiness and the load balancer -----------------------------------------------------
    def _checks(self, pod: int, offset: float) -> Generator[simpy.Event, None, None]:
        probe = self.profile.readiness
        failed = passed = 0
        yield _late(self.env, offset)
        while True:
            self._passing[pod] = self._passing[pod] + 1 if self.up[pod] else 0
            if self._passing[pod] >= probe.success_threshold and not self.ready[pod]:
                self.ready[pod] = True
                self._record("pod-ready", pod, f"{self._passing[pod]} passing checks")
            if self.up[pod]:
                failed = 0
                if not self.in_rotation[pod]:
                    passed += 1
                    if passed >= probe.success_threshold:
                        self.in_rotation[pod] = True
                        self._record("lb-in", pod, f"{passed} passing checks")
                        passed = 0
            else:
                passed = 0
                if self.in_rotation[pod]:
                    failed += 1
                    if failed >= probe.failure_threshold:
                        self.in_rotation[pod] = False
                        self._record("lb-out", pod, f"{failed} failed checks")
                        failed = 0
            yield _late(self.env, probe.period)


@dataclass(frozen=True)
class Timeline:
    """Everything the cluster did in one replication, in time order."""

    events: tuple[Event, ...]
    replicas: int
    horizon: float
    offsets: tuple[float, ...]

    def changes(self) -> list[tuple[float, int, int]]:
        """(time, code, pod) for the kernel: pod-down/up and lb-out/in, pods before the LB at ties."""
        out = [(e.time, _CHANGE_CODES[e.kind], e.pod) for e in self.events if e.kind in _CHANGE_CODES]
        return sorted((t, c, p) for t, c, p in out if p is not None)

    def down_times(self) -> list[list[float]]:
        """For each pod, the times it went down, in order."""
        downs: list[list[float]] = [[] for _ in range(self.replicas)]
        for e in self.events:
            if e.kind == "pod-down" and e.pod is not None:
                downs[e.pod].append(e.time)
        return downs

    def _steps(self, up: str, down: str) -> tuple[np.ndarray, np.ndarray]:
        times, counts, count = [0.0], [self.replicas], self.replicas
        for e in self.events:
            if e.kind in (up, down):
                count += 1 if e.kind == up else -1
                times.append(e.time)
                counts.append(count)
        return np.asarray(times), np.asarray(counts)

    def ready_steps(self) -> tuple[np.ndarray, np.ndarray]:
        """Ready pods as a step function: (times, counts), from t = 0."""
        return self._steps("pod-ready", "pod-not-ready")

    def rotation_steps(self) -> tuple[np.ndarray, np.ndarray]:
        """Pods in the load balancer's rotation as a step function: (times, counts), from t = 0."""
        return self._steps("lb-in", "lb-out")

    def ready_min(self, start: float, end: float) -> int:
        """The fewest ready pods at any moment of [start, end)."""
        times, counts = self.ready_steps()
        first = max(int(np.searchsorted(times, start, side="right")) - 1, 0)
        last = int(np.searchsorted(times, end, side="left"))
        return int(counts[first:last].min())


def probe_offsets(profile: SystemProfile, rng: np.random.Generator) -> tuple[float, ...]:
    """Each pod's readiness-check phase, uniform in [0, period): real checks are not aligned."""
    period = profile.readiness.period
    return tuple(float(x) for x in rng.uniform(0.0, period, profile.service.replicas))


def play_timeline(
    profile: SystemProfile,
    scenario: Scenario,
    rng: np.random.Generator,
    offsets: Sequence[float] | None = None,
) -> Timeline:
    """Run the cluster's SimPy processes over the scenario's horizon and return what happened."""
    if offsets is None:
        offsets = probe_offsets(profile, rng)
    env = simpy.Environment()
    cluster = Cluster(env, profile, offsets)
    horizon = scenario.horizon
    for fault in scenario.pod_faults:
        cluster.inject(fault, rng, horizon)
    env.run(until=horizon)
    log.debug("timeline: %d events over %.0f s", len(cluster.events), horizon)
    return Timeline(tuple(cluster.events), cluster.replicas, horizon, tuple(offsets))
