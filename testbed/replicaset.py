"""Pods with ReplicaSet and kubelet semantics, as a pure state machine (time is a parameter).

The supervisor (testbed.supervisor) feeds it what happened - a container's process exited, a probe
answered, a chaos command arrived - and carries out the actions it returns (start or kill a
container's process). Nothing here touches a process, a socket or the clock.

Semantics, following Kubernetes:
- ReplicaSet: one pod per slot, `replicas` slots. A deleted pod is replaced at once by a new pod
  (new name) that stays Pending for `scheduleDelay`, then its container starts.
- kubelet: a container whose process exits is restarted with CrashLoopBackOff: the first restart
  at once, then `restartBackoff`, doubling up to `restartBackoffMax`; the back-off is forgotten after
  a container ran for 2 x `restartBackoffMax`. Readiness probes every `period`; `failureThreshold`
  failures make the pod not ready, `successThreshold` successes make it ready. Liveness failures
  (`failureThreshold` in a row) kill the container, which then restarts with back-off.
- kubelet probe workers: a pod's probes run on a grid of their own that starts with the pod's first
  container (readiness at once, liveness one period later) and keeps its phase over the container's
  restarts (ticks while no container runs probe nothing). A worker that starts within one period of
  the kubelet's own start first waits a random part of the period (the kubelet's rule, so that the
  pods it finds at start-up are not probed in step).
- Chaos Mesh pod-failure: the container is swapped for a pause container (restart count + 1): the
  pod stays, serves nothing and is not recreated; recovery swaps it back (restart count + 1) and the
  service process starts without back-off (an image change is not a crash).

Start-up: `startupTime` is the time from a container's start until /ready can pass. A container's
process is launched as soon as the kubelet starts the container, and told (`Start.startup`) to fail
/ready for `startupTime` after its launch; a process that boots slower is ready when it has booted.
So a replacement pod is ready `scheduleDelay` + `startupTime` (+ up to one probe period) after the
old one was deleted, as on the cluster the profile describes, however fast the machine boots it.

Each slot has a fixed port, so a replacement pod can only start once its predecessor's process is
gone; `process_gone` reports that.

Rolling updates (the Deployment controller): `roll(env)` makes a new pod template revision (the
container environment is what differs; a revision with the same environment as an earlier one
keeps its pod-name hash, as `kubectl rollout undo` reuses the old ReplicaSet). Old pods are then
replaced as the RollingUpdate strategy allows: at most `replicas + maxSurge` pods, at least
`replicas - maxUnavailable` ready; not-ready old pods go first. New pods take any free slot, the
surge slots (`surge_ports`) included. A slot is in the Service (HAProxy's server enabled) from the
moment a pod in it is first ready until that pod is deleted by the rollout: `Endpoint` actions say
when, so a rollout's deleted pods are out of rotation before they are stopped (SIGTERM, then
SIGKILL after the termination grace period), as a terminating pod leaves a Service's endpoints.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

from chaos.errors import ChaosLabError
from chaos.system import Lifecycle, Probe

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alikes)."""

READINESS = "readiness"
LIVENESS = "liveness"


class PodNotFoundError(ChaosLabError):
    """A pod name that the testbed does not have (any more)."""

    hint = "list the pods with `chaoslab testbed status`"


@dataclass(frozen=True)
class Start:
    """Start the container's process of `pod` on its slot's port; /ready fails for `startup` seconds;
    `env` is the container environment its template revision adds."""

    pod: str
    slot: int
    port: int
    startup: float = 0.0
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Kill:
    """Stop the container's process of `pod`: SIGTERM, then SIGKILL after `grace` seconds (0 = at once)."""

    pod: str
    slot: int
    grace: float = 0.0


@dataclass(frozen=True)
class Endpoint:
    """Put `slot` into the Service (`enabled`) or take it out (its pod was deleted by a rollout)."""

    slot: int
    enabled: bool


Action = Start | Kill | Endpoint
Env = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Revision:
    """One pod template revision: its number, its container environment and its pod-name hash."""

    number: int
    env: Env
    hash: str


@dataclass(frozen=True)
class ProbeCheck:
    pod: str
    kind: str
    port: int
    at: float = 0.0
    """The tick the probe belongs to: send it then (a tick already past: at once)."""


@dataclass
class _ProbeState:
    successes: int = 0
    failures: int = 0
    next_at: float = 0.0


@dataclass
class Backoff:
    """kubelet's CrashLoopBackOff for one container."""

    base: float
    maximum: float
    crashes: int = 0
    last_crash: float | None = None

    def next_delay(self, now: float, running_since: float | None) -> float:
        """Delay before restarting a container that exited at `now`."""
        if running_since is not None and now - running_since >= 2 * self.maximum:
            self.crashes = 0
        self.crashes += 1
        self.last_crash = now
        if self.crashes == 1:
            return 0.0
        return float(min(self.maximum, self.base * 2 ** (self.crashes - 2)))


@dataclass
class Pod:
    name: str
    slot: int
    port: int
    created_at: float
    start_at: float | None
    """When the kubelet will (re)start the container; None while it runs or is held."""
    state: str = "waiting"
    """Container state: waiting, running, terminated."""
    reason: str = "ContainerCreating"
    restarts: int = 0
    started_at: float | None = None
    """When the container (or, during a pod-failure, the pause container) last started."""
    ever_started: bool = False
    ready: bool = False
    ready_since: float | None = None
    """When the readiness probe last made the pod ready; None while it is not ready."""
    failure_injected: bool = False
    revision: int = 1
    readiness: _ProbeState = field(default_factory=_ProbeState)
    liveness: _ProbeState = field(default_factory=_ProbeState)
    backoff: Backoff = field(default_factory=lambda: Backoff(10.0, 300.0))

    @property
    def phase(self) -> str:
        return "Running" if self.ever_started else "Pending"

    @property
    def process_running(self) -> bool:
        return self.state == "running" and not self.failure_injected


@dataclass(frozen=True)
class PodTemplate:
    """What every pod of the ReplicaSet shares."""

    name: str
    namespace: str
    labels: dict[str, str]
    container: str
    ports: tuple[int, ...]
    lifecycle: Lifecycle
    readiness: Probe
    liveness: Probe
    surge_ports: tuple[int, ...] = ()
    """Slots beyond `replicas` that a rolling update's surge pods use (out of the Service when empty)."""
    max_unavailable: int = 0
    termination_grace: float = 10.0
    """terminationGracePeriodSeconds for the pods a rollout deletes."""

    @property
    def replicas(self) -> int:
        return len(self.ports)

    @property
    def slot_ports(self) -> tuple[int, ...]:
        return self.ports + self.surge_ports


class ReplicaSet:
    """The desired pods and their containers' lives."""

    def __init__(self, template: PodTemplate, rng: random.Random) -> None:
        self.template = template
        self._rng = rng
        self._revisions = [Revision(1, (), self._new_hash())]
        self._pods: dict[int, Pod] = {}
        self._terminating: dict[int, str] = {}
        self._used_names: set[str] = set()
        self._endpoints = [slot < template.replicas for slot in range(len(template.slot_ports))]
        self._kubelet_started: float | None = None

    # -- reading -----------------------------------------------------------------------------
    @property
    def pods(self) -> list[Pod]:
        return [self._pods[slot] for slot in sorted(self._pods)]

    def pod(self, name: str) -> Pod:
        for pod in self._pods.values():
            if pod.name == name:
                return pod
        raise PodNotFoundError(f"pod {name!r} does not exist in namespace {self.template.namespace}")

    def terminating(self) -> dict[int, str]:
        return dict(self._terminating)

    @property
    def available(self) -> int:
        return sum(1 for pod in self._pods.values() if pod.ready)

    @property
    def revision(self) -> Revision:
        """The pod template revision the ReplicaSet rolls towards."""
        return self._revisions[-1]

    @property
    def updated(self) -> int:
        """Pods of the current revision."""
        return sum(1 for pod in self._pods.values() if pod.revision == self.revision.number)

    @property
    def rolled_out(self) -> bool:
        """Every pod of the current revision, `replicas` of them, all ready."""
        pods = self._pods.values()
        current = self.revision.number
        return len(pods) == self.template.replicas and all(p.revision == current and p.ready for p in pods)

    # -- the control loop --------------------------------------------------------------------
    def reconcile(self, now: float) -> list[Action]:
        """Create missing pods (rolling old ones out), and start the containers whose time has come."""
        if self._kubelet_started is None:
            self._kubelet_started = now
        actions = self._roll(now)
        for slot in sorted(self._pods):
            pod = self._pods[slot]
            due = pod.start_at is not None and pod.start_at <= now
            if due and not pod.failure_injected and slot not in self._terminating:
                actions.append(self._start(pod, now))
        return actions

    def roll(self, env: Env) -> Revision:
        """Start a rolling update to a template with container environment `env` (sorted pairs)."""
        env = tuple(sorted(env))
        if env == self.revision.env:
            return self.revision
        earlier = next((r for r in self._revisions if r.env == env), None)
        number = self.revision.number + 1
        self._revisions.append(Revision(number, env, earlier.hash if earlier else self._new_hash()))
        return self.revision

    def _roll(self, now: float) -> list[Action]:
        """The Deployment controller's RollingUpdate, one pass."""
        t, current = self.template, self.revision.number
        replicas = t.replicas
        new = [p for p in self._pods.values() if p.revision == current]
        old = [p for p in self._pods.values() if p.revision != current]
        actions: list[Action] = []
        limit = replicas + (len(t.surge_ports) if old else 0)
        while len(self._pods) < limit and len(new) < replicas:
            slot = self._free_slot()
            if slot is None:
                break
            pod = self._pods[slot] = self._new_pod(slot, t.slot_ports[slot], now)
            new.append(pod)
        if not old:
            return actions
        min_available = replicas - t.max_unavailable
        new_unavailable = sum(1 for p in new if not p.ready)
        budget = len(self._pods) - min_available - new_unavailable
        for pod in sorted(old, key=lambda p: (p.ready, p.name)):
            if pod.ready:
                budget = min(budget, self.available - min_available)
            if budget <= 0:
                break
            actions += self._delete_for_rollout(pod)
            budget -= 1
        return actions

    def _delete_for_rollout(self, pod: Pod) -> list[Action]:
        del self._pods[pod.slot]
        self._endpoints[pod.slot] = False
        actions: list[Action] = [Endpoint(pod.slot, False)]
        if pod.process_running:
            self._terminating[pod.slot] = pod.name
            actions.append(Kill(pod.name, pod.slot, self.template.termination_grace))
        return actions

    def _free_slot(self) -> int | None:
        for slot in range(len(self.template.slot_ports)):
            if slot not in self._pods and slot not in self._terminating:
                return slot
        return None

    def container_exited(self, name: str, now: float) -> None:
        """The container's process of `name` ended (crash, kill, or liveness restart)."""
        pod = self.pod(name)
        if pod.state != "running":
            return
        self._not_ready(pod)
        if pod.failure_injected:
            return
        delay = pod.backoff.next_delay(now, pod.started_at)
        pod.state, pod.started_at = "waiting", None
        pod.reason = "CrashLoopBackOff" if delay > 0 else "Error"
        pod.start_at = now + delay

    def probes_due(self, now: float, within: float = 0.0) -> list[ProbeCheck]:
        """The probes whose tick is at `now + within` or before, one per worker: ticks missed
        altogether are dropped (as a Go ticker drops them), not sent late one after another."""
        checks: list[ProbeCheck] = []
        for pod in self.pods:
            if not pod.ever_started:
                continue  # no probe worker yet
            for kind, state in ((READINESS, pod.readiness), (LIVENESS, pod.liveness)):
                if state.next_at > now + within:
                    continue
                period = self._probe(kind).period
                tick = state.next_at + period * (max(0.0, now - state.next_at) // period)
                state.next_at = tick + period
                if pod.process_running:
                    checks.append(ProbeCheck(pod.name, kind, pod.port, tick))
        return checks

    def probe_result(self, name: str, kind: str, ok: bool, now: float) -> list[Action]:
        """Record one probe's outcome; a liveness failure streak kills the container."""
        try:
            pod = self.pod(name)
        except PodNotFoundError:
            return []
        if not pod.process_running:
            return []
        probe = self._probe(kind)
        state = pod.readiness if kind == READINESS else pod.liveness
        if ok:
            state.successes, state.failures = state.successes + 1, 0
        else:
            state.successes, state.failures = 0, state.failures + 1
        if kind == READINESS:
            if ok and state.successes >= probe.success_threshold:
                if not pod.ready:
                    pod.ready, pod.ready_since = True, now
                if not self._endpoints[pod.slot]:  # a new slot joins the Service once its pod is ready
                    self._endpoints[pod.slot] = True
                    return [Endpoint(pod.slot, True)]
            elif not ok and state.failures >= probe.failure_threshold:
                pod.ready, pod.ready_since = False, None
            return []
        if not ok and state.failures >= probe.failure_threshold:
            state.failures = 0
            return [Kill(pod.name, pod.slot)]
        return []

    # -- what chaos does ---------------------------------------------------------------------
    def delete_pod(self, name: str, now: float, grace: float = 0.0) -> list[Action]:
        """pod-kill: the pod goes; the ReplicaSet creates a replacement right away (Pending)."""
        pod = self.pod(name)
        del self._pods[pod.slot]
        actions: list[Action] = []
        if pod.process_running:
            self._terminating[pod.slot] = pod.name
            actions.append(Kill(pod.name, pod.slot, grace))
        self._pods[pod.slot] = self._new_pod(pod.slot, pod.port, now)
        return actions

    def process_gone(self, slot: int) -> None:
        """The process of a deleted pod in `slot` has been reaped; the slot's port is free."""
        self._terminating.pop(slot, None)

    def kill_container(self, name: str) -> list[Action]:
        """container-kill: SIGKILL the process; the exit is reported and restarted with back-off."""
        pod = self.pod(name)
        return [Kill(pod.name, pod.slot)] if pod.process_running else []

    def inject_failure(self, name: str, now: float) -> list[Action]:
        """pod-failure: swap the container for a pause container; the pod stays and serves nothing."""
        pod = self.pod(name)
        if pod.failure_injected:
            return []
        actions: list[Action] = [Kill(pod.name, pod.slot)] if pod.process_running else []
        pod.failure_injected = True
        pod.restarts += 1
        pod.state, pod.reason, pod.start_at = "running", "PodFailureChaos", None
        pod.started_at = now
        if not pod.ever_started:  # the pause container is the pod's first: its workers start
            self._start_workers(pod, now)
        pod.ever_started = True
        self._not_ready(pod)
        return actions

    def recover_failure(self, name: str, now: float) -> list[Action]:
        """pod-failure recovery: the original image is back and the container starts (no back-off)."""
        pod = self.pod(name)
        if not pod.failure_injected:
            return []
        pod.failure_injected = False
        pod.restarts += 1
        pod.state, pod.reason, pod.start_at = "waiting", "ContainerCreating", now
        return self.reconcile(now)

    # -- helpers -----------------------------------------------------------------------------
    def _start(self, pod: Pod, now: float) -> Start:
        if pod.ever_started and pod.reason != "ContainerCreating":
            pod.restarts += 1
        if not pod.ever_started:  # the pod's probe workers start (a restart keeps their phase)
            self._start_workers(pod, now)
        pod.state, pod.reason, pod.start_at, pod.started_at = "running", "", None, now
        pod.ever_started = True
        self._not_ready(pod)
        env = self._revisions[pod.revision - 1].env
        return Start(pod.name, pod.slot, pod.port, self.template.lifecycle.startup_time, env)

    def _start_workers(self, pod: Pod, now: float) -> None:
        started = self._kubelet_started if self._kubelet_started is not None else now
        wait = 0.0
        if now - started < self.template.readiness.period:
            wait = self._rng.uniform(0.0, self.template.readiness.period)
        pod.readiness.next_at = now + wait
        pod.liveness.next_at = now + wait + self.template.liveness.period

    def _not_ready(self, pod: Pod) -> None:
        pod.ready, pod.ready_since = False, None
        pod.readiness = _ProbeState(next_at=pod.readiness.next_at)
        pod.liveness = _ProbeState(next_at=pod.liveness.next_at)

    def _new_pod(self, slot: int, port: int, now: float) -> Pod:
        life = self.template.lifecycle
        return Pod(
            name=self._new_name(),
            slot=slot,
            port=port,
            created_at=now,
            start_at=now + life.schedule_delay,
            backoff=Backoff(life.restart_backoff, life.restart_backoff_max),
            revision=self.revision.number,
        )

    def _new_hash(self) -> str:
        return "".join(self._rng.choice(string.hexdigits.lower()[:16]) for _ in range(10))

    def _new_name(self) -> str:
        while True:
            suffix = "".join(self._rng.choice(_NAME_ALPHABET) for _ in range(5))
            name = f"{self.template.name}-{self.revision.hash}-{suffix}"
            if name not in self._used_names:
                self._used_names.add(name)
                return name

    def _probe(self, kind: str) -> Probe:
        return self.template.readiness if kind == READINESS else self.template.liveness
