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
- readiness, the kubelet's way: each pod's readiness probe runs every `period` on a grid of its own
  that starts when the pod's first container starts (the kubelet's probe worker; the pods present at
  t = 0 have phases of their own, `kubelet_offsets`) and keeps its phase over the pod's container
  restarts. A pod deleted and replaced (pod-kill, a rollout) has a new worker: its first probe is at
  its container's start. A pod is not ready from the moment its container stops or it is deleted,
  and ready again after `successThreshold` consecutive passing probes once it serves (the Ready
  condition the kubelet reports, what `kubectl get pods` and the runner count).
- the load balancer (HAProxy's health checks): every slot is checked every `period` at a fixed phase
  of its own (`offsets`), independent of the pods in it. It takes a pod out of rotation after
  `failureThreshold` consecutive failed checks and back after `successThreshold` passing ones; it
  learns nothing any other way, except that a slot's endpoint joins (in rotation at once) when its
  pod is first ready.
- ties: a probe or check sees none of the lifecycle changes of its own instant. A container serves
  after its start-up, so the probe on the tick its start-up ends fails (the testbed's pods begin to
  listen 10-25 ms after it); with a 4 s start-up and a 2 s period a new pod is ready 6 s after its
  container started. A new pod's start-up is timed from its container's start, so that the two sums
  of seconds agree exactly.
- selection: Chaos Mesh's selector modes as `chaos.selection` implements them (random-max-percent
  draws a percentage in 0..value and takes ceil(n * percentage / 100) pods, which can be none).
- rollouts (the Deployment controller, as testbed/replicaset.py plays it): a rollout switches the
  template revision the Deployment wants and its rollback switches it back. Old pods are replaced
  as `service.strategy` allows (at most replicas + maxSurge pods, at least replicas - maxUnavailable
  ready, not-ready old pods first; a pod still terminating counts for neither, as in Kubernetes);
  a new pod takes a free slot (the spare slots beyond the replicas included: enough for the surge
  and for the pods still terminating), serves after `scheduleDelay + startupTime` and joins the
  load balancer the moment it is first ready (the Service adds a ready pod's endpoint); a deleted
  pod leaves the rotation and the Ready count at once and stops `requestTimeout` later, when what
  it was serving is done (graceful termination), which frees its slot. `pod-template` events
  (detail: the revision index into `Scenario.templates`) say which revision a slot's new pod runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import numpy as np
import simpy
from simpy.events import URGENT

from chaos.selection import pick
from chaos.system import SystemProfile
from sim.scenario import PodFault, RolloutFault, Scenario

log = logging.getLogger(__name__)

POD_DOWN, POD_UP, LB_OUT, LB_IN = 0, 1, 2, 3  # kernel change codes, applied in this order at ties
POD_TEMPLATE = 4
"""Change code of a slot's new pod template revision r: POD_TEMPLATE + r."""
_CHANGE_CODES = {"pod-down": POD_DOWN, "pod-up": POD_UP, "lb-out": LB_OUT, "lb-in": LB_IN}

Listener = Callable[[float, str, int], None]


@dataclass(frozen=True)
class Event:
    """Something that happened at `time`: inject/recover (a fault), pod-down/pod-up, lb-out/lb-in,
    breaker-open/breaker-half-open/breaker-closed. `pod` is None for fault-level events."""

    time: float
    kind: str
    pod: int | None = None
    detail: str = ""


def _early(env: simpy.Environment, delay: float) -> simpy.Event:
    """A timeout that fires before the lifecycle changes (NORMAL timeouts) of the same instant."""
    event = simpy.Event(env)
    event._ok = True
    event._value = None
    env.schedule(event, URGENT, delay)
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
        surge: int = 0,
        kubelet_offsets: Sequence[float] | None = None,
    ) -> None:
        n = profile.service.replicas
        slots = n + surge
        if len(offsets) != slots:
            raise ValueError(f"offsets has {len(offsets)} values, must have one per pod slot ({slots})")
        kubelet = list(offsets[:n] if kubelet_offsets is None else kubelet_offsets)
        if len(kubelet) != n:
            raise ValueError(f"kubelet_offsets has {len(kubelet)} values, must have one per pod ({n})")
        self.env = env
        self.profile = profile
        self.n = n
        base = [True] * n + [False] * surge  # the surge slots start empty
        self.up = list(base)  # the pod's container serves (and passes readiness)
        self.ready = list(base)  # the pod's Ready condition
        self.in_rotation = list(base)
        self.exists = list(base)  # a pod of the Deployment is in the slot (not deleted)
        self.enabled = list(base)  # the slot is in the Service (its pod was ready once)
        self.revision = [0] * slots  # the template revision of the slot's pod
        self.current = 0  # the revision the Deployment wants
        self.events: list[Event] = []
        self._listener = listener
        self._generation = [0] * slots  # bumps on every lifecycle action; stale starts do nothing
        self._paused = [0] * slots  # pod-failure faults holding the pod
        self._crashes = [0] * slots  # container crashes of the current pod (kubelet back-off)
        self._running_since = [0.0] * slots  # when the container last started serving
        self._passing = [0] * slots  # consecutive passing probes of the current container
        self._pod_id = [0] * slots  # bumps when the slot gets a new pod (a new probe worker)
        self._lb_passed = [0] * slots  # the load balancer's consecutive passing / failed checks
        self._lb_failed = [0] * slots
        self._terminating = [False] * slots
        self._changed = env.event()  # the Deployment controller's wake-up
        self._controlling = False
        period = profile.readiness.period
        for name, values in (("offsets", offsets), ("kubelet_offsets", kubelet)):
            for pod, offset in enumerate(values):
                if not 0 <= offset < period:
                    raise ValueError(f"{name}[{pod}]={offset} must be in [0, period={period})")
        for slot, offset in enumerate(offsets):
            env.process(self._lb_checks(slot, offset))
        for pod, offset in enumerate(kubelet):
            env.process(self._probes(pod, 0, offset))

    @property
    def replicas(self) -> int:
        return self.n

    @property
    def slots(self) -> int:
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

    def _start_after(
        self, pod: int, schedule: float, delay: float, why: str
    ) -> Generator[simpy.Event, None, None]:
        generation = self._generation[pod]
        if schedule:
            yield self.env.timeout(schedule)  # the container starts: its start-up is timed from here
        yield self.env.timeout(delay)
        if self._generation[pod] == generation and not self._paused[pod]:
            self._set_up(pod, True, why)

    def _restart(self, pod: int, delay: float, why: str, schedule: float = 0.0) -> None:
        """The pod's container stops; a container serves `schedule + delay` seconds later."""
        self._generation[pod] += 1
        self._set_up(pod, False, why)
        self.env.process(self._start_after(pod, schedule, delay, why))

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
        self._restart(pod, life.startup_time, "pod-kill", schedule=life.schedule_delay)
        self._new_worker(pod, life.schedule_delay)
        self._set_template(pod)
        self._kick()

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
        existing = [s for s in range(self.slots) if self.exists[s]]
        pods = sorted(pick(fault.mode, fault.value, existing, _Draws(rng)))
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

    # -- rollouts: the Deployment controller -------------------------------------------------
    def roll(self, fault: RolloutFault, revision: int, horizon: float) -> None:
        """Play a rollout to template `revision` (and its rollback to revision 0) in this cluster."""
        self.env.process(self._rollout(fault, revision, horizon))

    def _rollout(
        self, fault: RolloutFault, revision: int, horizon: float
    ) -> Generator[simpy.Event, None, None]:
        yield self.env.timeout(fault.start)
        self._record("inject", None, f"rollout to revision {revision}")
        self._want(revision)
        end = fault.end(horizon)
        if end >= horizon:
            return
        yield self.env.timeout(end - fault.start)
        self._record("recover", None, f"rollback from revision {revision}")
        self._want(0)

    def _want(self, revision: int) -> None:
        self.current = revision
        if not self._controlling:
            self._controlling = True
            self.env.process(self._controller())
        self._kick()

    def _kick(self) -> None:
        if not self._changed.triggered:
            self._changed.succeed()

    def _controller(self) -> Generator[simpy.Event, None, None]:
        while True:
            self._changed = self.env.event()
            while self._deploy_step():  # its own scale-down is a change it syncs on at once
                pass
            yield self._changed

    def _deploy_step(self) -> bool:
        """One pass of the RollingUpdate (testbed/replicaset.py's `_roll`); whether it deleted pods
        (the pods still terminating count for nothing, so the next pass may create new ones)."""
        n, current = self.n, self.current
        strategy = self.profile.service.strategy
        existing = [s for s in range(self.slots) if self.exists[s]]
        new = [s for s in existing if self.revision[s] == current]
        old = [s for s in existing if self.revision[s] != current]
        limit = n + strategy.surge(n) if old else n  # pods still terminating do not count
        while len(existing) < limit and len(new) < n:
            slot = next(
                (s for s in range(self.slots) if not self.exists[s] and not self._terminating[s]), None
            )
            if slot is None:
                break
            self._create(slot)
            existing.append(slot)
            new.append(slot)
        if not old:
            return False
        deleted = False
        min_available = n - strategy.unavailable(n)
        ready = sum(1 for s in existing if self.ready[s])
        budget = len(existing) - min_available - sum(1 for s in new if not self.ready[s])
        for slot in sorted(old, key=lambda s: (self.ready[s], s)):
            if self.ready[slot]:
                budget = min(budget, ready - min_available)
            if budget <= 0:
                break
            ready -= 1 if self.ready[slot] else 0
            self._delete(slot)
            deleted = True
            budget -= 1
        return deleted

    def _set_template(self, slot: int, always: bool = False) -> None:
        """The slot's new pod runs the current revision (recorded when it changes, or `always`)."""
        if always or self.revision[slot] != self.current:
            self.revision[slot] = self.current
            self._record("pod-template", slot, str(self.current))

    def _create(self, slot: int) -> None:
        life = self.profile.lifecycle
        self.exists[slot] = True
        self._paused[slot] = 0
        self._crashes[slot] = 0
        self._set_template(slot, always=True)
        self._restart(slot, life.startup_time, "rollout", schedule=life.schedule_delay)
        self._new_worker(slot, life.schedule_delay)

    def _delete(self, slot: int) -> None:
        """A rollout deletes the pod: out of the Service and not ready at once, stopped once drained."""
        self.exists[slot] = self.enabled[slot] = False
        self._terminating[slot] = True
        self._generation[slot] += 1
        self._pod_id[slot] += 1  # its probe worker stops: a deleted pod is never ready again
        if self.in_rotation[slot]:
            self.in_rotation[slot] = False
            self._record("lb-out", slot, "deleted by the rollout")
        if self.ready[slot]:
            self.ready[slot] = False
            self._record("pod-not-ready", slot, "deleted by the rollout")
        self.env.process(self._terminate(slot, self._generation[slot]))

    def _terminate(self, slot: int, generation: int) -> Generator[simpy.Event, None, None]:
        yield self.env.timeout(self.profile.service.request_timeout)
        if self._generation[slot] == generation:
            self._set_up(slot, False, "terminated")
        self._terminating[slot] = False
        self._kick()

    # -- readiness and the load balancer -----------------------------------------------------
    def _new_worker(self, slot: int, start_in: float) -> None:
        """The slot's new pod gets its own probe worker, first probing when its container starts."""
        self._pod_id[slot] += 1
        self.env.process(self._probes(slot, self._pod_id[slot], start_in))

    def _probes(self, slot: int, pod_id: int, first_in: float) -> Generator[simpy.Event, None, None]:
        """The kubelet's readiness probes of the slot's pod `pod_id`, on its own grid from
        `first_in` seconds on, until the pod is deleted or replaced."""
        probe = self.profile.readiness
        first = float(self.env.now) + first_in
        ticks = 0
        while True:
            yield _early(self.env, first + ticks * probe.period - float(self.env.now))
            if self._pod_id[slot] != pod_id:
                return
            ticks += 1
            self._passing[slot] = self._passing[slot] + 1 if self.up[slot] else 0
            if self._passing[slot] >= probe.success_threshold and not self.ready[slot]:
                self.ready[slot] = True
                self._record("pod-ready", slot, f"{self._passing[slot]} passing probes")
                if not self.enabled[slot]:  # its endpoint joins the Service: in rotation at once
                    self.enabled[slot] = self.in_rotation[slot] = True
                    self._record("lb-in", slot, "endpoint added")
                    self._lb_passed[slot] = self._lb_failed[slot] = 0
                self._kick()

    def _lb_checks(self, slot: int, offset: float) -> Generator[simpy.Event, None, None]:
        """The load balancer's health checks of one slot, every period at the slot's phase."""
        probe = self.profile.readiness
        yield _early(self.env, offset)
        while True:
            if not self.enabled[slot]:
                pass
            elif self.up[slot]:
                self._lb_failed[slot] = 0
                if not self.in_rotation[slot]:
                    self._lb_passed[slot] += 1
                    if self._lb_passed[slot] >= probe.success_threshold:
                        self.in_rotation[slot] = True
                        self._record("lb-in", slot, f"{self._lb_passed[slot]} passing checks")
                        self._lb_passed[slot] = 0
            else:
                self._lb_passed[slot] = 0
                if self.in_rotation[slot]:
                    self._lb_failed[slot] += 1
                    if self._lb_failed[slot] >= probe.failure_threshold:
                        self.in_rotation[slot] = False
                        self._record("lb-out", slot, f"{self._lb_failed[slot]} failed checks")
                        self._lb_failed[slot] = 0
            yield _early(self.env, probe.period)


@dataclass(frozen=True)
class Timeline:
    """Everything the cluster did in one replication, in time order."""

    events: tuple[Event, ...]
    replicas: int
    horizon: float
    offsets: tuple[float, ...]
    surge: int = 0
    """Spare slots beyond the replicas: a rollout's surge pods and the pods it deleted that are still
    terminating (they start empty)."""
    kubelet_offsets: tuple[float, ...] = ()
    """The readiness-probe phases of the pods present at t = 0 (empty: the same as `offsets`)."""
    load_shift: float = 0.0
    """Where the load's pacing grid sits, seen from the run's start, as a share of one period
    (chaos.pacing): the load process' clock is not the run's."""

    @property
    def slots(self) -> int:
        return self.replicas + self.surge

    def changes(self) -> list[tuple[float, int, int]]:
        """(time, code, pod) for the kernel: pod-down/up and lb-out/in, pods before the LB at ties;
        a slot's new template revision r as code POD_TEMPLATE + r."""
        out = [(e.time, _CHANGE_CODES[e.kind], e.pod) for e in self.events if e.kind in _CHANGE_CODES]
        out += [
            (e.time, POD_TEMPLATE + int(e.detail), e.pod) for e in self.events if e.kind == "pod-template"
        ]
        return sorted((t, c, p) for t, c, p in out if p is not None)

    def down_times(self) -> list[list[float]]:
        """For each pod slot, the times it went down, in order."""
        downs: list[list[float]] = [[] for _ in range(self.slots)]
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
    """A phase per pod, uniform in [0, period): real checks are not aligned. Drawn once for the load
    balancer's checks of the slots and once for the kubelet's probes of the pods present at t = 0."""
    period = profile.readiness.period
    return tuple(float(x) for x in rng.uniform(0.0, period, profile.service.replicas))


def load_shift(rng: np.random.Generator) -> float:
    """A replication's shift of the load's pacing grid, uniform over one period, from a generator
    spawned off `rng` (the replication's other draws stay what they were)."""
    return float(rng.spawn(1)[0].random())


def placement(
    profile: SystemProfile, rng: np.random.Generator, offsets: Sequence[float] | None
) -> tuple[Sequence[float], tuple[float, ...] | None, float]:
    """Where a replication's periodic things sit: the load balancer's check phases, the kubelet's
    probe phases (None: the same as the load balancer's) and the load's grid shift. `offsets` given,
    a run placed by hand: the kubelet at those phases and the grid unshifted; otherwise all drawn."""
    if offsets is not None:
        return offsets, None, 0.0
    return probe_offsets(profile, rng), probe_offsets(profile, rng), load_shift(rng)


def play_timeline(
    profile: SystemProfile,
    scenario: Scenario,
    rng: np.random.Generator,
    offsets: Sequence[float] | None = None,
) -> Timeline:
    """Run the cluster's SimPy processes over the scenario's horizon and return what happened.
    `offsets` (the load balancer's check phases) given, the kubelet probes at the same phases and
    the load's grid unshifted (a run placed by hand); otherwise all three are drawn."""
    strategy, n = profile.service.strategy, profile.service.replicas
    # spare slots: the surge, and the pods one step of the rollout deletes while they terminate
    surge = 2 * strategy.surge(n) + strategy.unavailable(n) if scenario.rollouts else 0
    offsets, kubelet, shift = placement(profile, rng, offsets)
    if surge and len(offsets) == profile.service.replicas:  # the surge slots' checks, drawn after
        period = profile.readiness.period
        offsets = (*offsets, *(float(x) for x in rng.uniform(0.0, period, surge)))
    env = simpy.Environment()
    cluster = Cluster(env, profile, offsets, surge=surge, kubelet_offsets=kubelet)
    horizon = scenario.horizon
    for fault in scenario.pod_faults:
        cluster.inject(fault, rng, horizon)
    for revision, rollout in enumerate(scenario.rollouts, start=1):
        cluster.roll(rollout, revision, horizon)
    env.run(until=horizon)
    log.debug("timeline: %d events over %.0f s", len(cluster.events), horizon)
    return Timeline(
        tuple(cluster.events), cluster.replicas, horizon, tuple(offsets), surge, kubelet or (), shift
    )
