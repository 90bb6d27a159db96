"""The naive reference model: one SimPy process per user and per request, same semantics as the kernel.

This is the textbook way to write the simulator and the yardstick for the kernel: the benchmark
compares their speed and a test checks that both predict the same numbers. Pods are
`simpy.Resource`s, deadlines are `AnyOf` races, a pod going down interrupts its requests, the breaker
is `sim.breaker.CircuitBreaker` fed as outcomes happen. The cluster timeline is the same `Cluster`,
running in the same environment.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from typing import Any, cast

import numpy as np
import simpy

from chaos.errors import SimulationError
from chaos.pacing import first_start, user_phase
from chaos.system import SystemProfile
from sim import outcomes as oc
from sim.breaker import REJECT, TRIAL, CircuitBreaker
from sim.cache import cache_model, entity_sampler
from sim.scenario import Scenario
from sim.store import LOST, Connections, StoreFaults
from sim.timeline import Cluster, Event, Timeline, placement
from sim.trace import Trace
from sim.variates import Stream, sampler, uniforms


class _Pod:
    """One pod process: its slots (FCFS queue included), its breaker, the requests it holds."""

    def __init__(self, model: ReferenceModel, index: int) -> None:
        self.index = index
        self.slots = simpy.Resource(model.env, capacity=model.profile.service.concurrency)
        self.breaker = CircuitBreaker(model.profile.breaker, lambda now, state: model.log(now, state, index))
        self.requests: set[simpy.Process] = set()
        self.fresh: dict[int, float] = {}
        """Feature cache: entity -> its entry's expiry (followed when the load states its entities)."""


class ReferenceModel:
    def __init__(self, profile: SystemProfile, scenario: Scenario, rng: np.random.Generator) -> None:
        self.env = simpy.Environment()
        self.profile, self.scenario = profile, scenario
        self.load = scenario.load or profile.load
        self.chaos = profile.model_chaos.enabled if scenario.model_chaos is None else scenario.model_chaos
        self.rng = rng
        self.service_time = Stream(sampler(profile.service.service_time, rng))
        self.store_time = Stream(sampler(profile.feature_store.latency, rng))
        self.uniform = Stream(uniforms(rng))
        overhead = profile.request_overhead
        self.overhead = None if overhead is None else Stream(sampler(overhead, rng.spawn(1)[0]))
        self.store = StoreFaults(scenario.store_faults, scenario.horizon, rng)
        self.connections = Connections(profile.service.replicas)
        self.follow, self.ttl, self.keep = cache_model(profile, self.load)
        draw_entity = entity_sampler(rng, max(1, self.load.entities))
        self.entity = Stream(lambda k: [float(e) for e in draw_entity(k)])
        n = profile.service.replicas
        self.pods = [_Pod(self, p) for p in range(n)]
        self.rotation, self.rr = list(range(n)), 0
        self.records: tuple[list[float], list[float], list[float], list[int]] = ([], [], [], [])
        self.served: list[float] | None = None if overhead is None else []
        """With a request overhead: when each attempt ended on the pods' side (cut at the client's
        timeout, as the kernel's `Trace.served`)."""
        self.breaker_events: list[Event] = []
        self.cluster: Cluster | None = None

    def log(self, now: float, state: str, pod: int) -> None:
        self.breaker_events.append(Event(now, f"breaker-{state}", pod))

    # -- the cluster tells us what changed ---------------------------------------------------
    def on_cluster(self, now: float, kind: str, pod: int) -> None:
        if kind == "pod-down":
            old = self.pods[pod]
            self.pods[pod] = _Pod(self, pod)
            self.connections.reset(pod)  # a new container connects when it needs to
            for request in list(old.requests):
                if request.is_alive:
                    request.interrupt("pod down")
        elif kind in ("lb-in", "lb-out"):
            assert self.cluster is not None
            self.rotation = [p for p, inside in enumerate(self.cluster.in_rotation) if inside]
            self.rr = self.rr % len(self.rotation) if self.rotation else 0

    # -- users -------------------------------------------------------------------------------
    def user(self, first: float) -> Generator[simpy.Event, Any, None]:
        env, horizon = self.env, self.scenario.horizon
        period = self.load.users / self.load.rps
        client_timeout, retries = self.profile.client.timeout, self.profile.client.retries
        closed = self.load.arrival == "closed"
        schedule = first if closed else first + float(self.rng.exponential(period))
        yield env.timeout(schedule)
        while env.now < horizon:
            for _ in range(retries + 1):
                if env.now >= horizon:
                    return
                sent = float(env.now)
                started = [sent, math.inf]  # the request's start as the server sees it, its end there
                request = env.process(self.answer(sent, started))
                done = yield request | env.timeout(client_timeout)
                code = cast(int, request.value) if request in done else oc.TIMEOUT
                self._record(sent, started[0], float(env.now), code)
                if self.served is not None:
                    self.served.append(min(started[1], sent + client_timeout))
                if code & oc.STATUS_MASK == oc.OK:
                    break
            if closed:
                schedule = max(schedule + period, float(env.now)) + self.load.pacing_lateness
                wake = schedule
            else:
                schedule += float(self.rng.exponential(period))
                wake = max(schedule, float(env.now))
            yield env.timeout(wake - env.now)

    def _record(self, sent: float, start: float, end: float, code: int) -> None:
        send, begin, finish, codes = self.records
        send.append(sent)
        begin.append(start)
        finish.append(end)
        codes.append(code)

    # -- one request -------------------------------------------------------------------------
    def answer(self, sent: float, started: list[float]) -> Generator[simpy.Event, Any, int]:
        """The request, then the request overhead on its way back to the client (when profiled)."""
        code = yield from self.request(sent, started)
        started[1] = float(self.env.now)
        if self.overhead is not None:
            yield self.env.timeout(self.overhead())
        return code

    def request(self, sent: float, started: list[float]) -> Generator[simpy.Event, Any, int]:
        env, cluster = self.env, self.cluster
        assert cluster is not None
        if not self.rotation:
            return oc.UNAVAILABLE
        p = self.rotation[self.rr]
        self.rr = (self.rr + 1) % len(self.rotation)
        if not cluster.up[p]:
            return oc.REFUSED
        pod, svc = self.pods[p], self.profile.service
        if pod.slots.count >= svc.concurrency and len(pod.slots.queue) >= svc.max_queue:
            return oc.OVERLOAD
        me = env.active_process
        assert me is not None
        pod.requests.add(me)
        deadline = sent + svc.request_timeout
        work: simpy.Process | None = None
        try:
            with pod.slots.request() as slot:
                got = yield slot | env.timeout(deadline - env.now)
                started[0] = float(env.now)
                if slot not in got:
                    return oc.TIMEOUT
                work = env.process(self.work(pod, started[0]))
                got = yield work | env.timeout(deadline - env.now)
                if work not in got and work.is_alive:
                    work.interrupt("deadline")
                    return oc.TIMEOUT
                return cast(int, work.value)
        except simpy.Interrupt:
            if work is None:
                started[0] = float(env.now)
            elif work.is_alive:
                work.interrupt("pod down")
            return oc.RESET
        finally:
            pod.requests.discard(me)

    def work(self, pod: _Pod, start: float) -> Generator[simpy.Event, Any, int]:
        """Feature lookup (store behind the breaker, then cache or defaults), service time, model."""
        env, profile = self.env, self.profile
        calling = False
        try:
            entity = int(self.entity()) if self.follow else 0
            permit = pod.breaker.allow(start)
            live = False
            if permit != REJECT:
                timeout = profile.feature_store.timeout
                d = self.store_time()
                if self.store:
                    idle = self.connections.take(pod.index, start)
                    if self.store.start <= start < self.store.end:
                        d = self.store.call_time(start, d, idle is None)
                        if d == LOST:
                            d = timeout
                    self.connections.release(pod.index, idle, start + min(d, timeout), d >= timeout)
                failed = d >= timeout
                d = min(d, timeout)
                calling = True
                yield env.timeout(d)
                calling = False
                live = not failed
                if live and self.follow:
                    pod.fresh[entity] = float(env.now) + self.ttl
                pod.breaker.record(float(env.now), failed or d >= profile.breaker.slow_call, permit == TRIAL)
            code = 0
            if not live:
                u = self.uniform()
                if self.follow:
                    hit = pod.fresh.get(entity, -math.inf) > env.now and u < self.keep
                else:
                    hit = u < profile.cache.hit_rate
                code = oc.CACHE if hit else oc.DEFAULT
                code <<= oc.FEATURES_SHIFT
                if code == oc.DEFAULT << oc.FEATURES_SHIFT:
                    code |= oc.FALLBACK_FEATURES << oc.MODEL_SHIFT
            w = self.service_time()
            if self.chaos and code >> oc.MODEL_SHIFT == oc.PRIMARY:
                mc, u = profile.model_chaos, self.uniform()
                if u < mc.exception_rate:
                    code |= oc.FALLBACK_ERROR << oc.MODEL_SHIFT
                elif u < mc.exception_rate + mc.timeout_rate:
                    w += mc.model_deadline
                    code |= oc.FALLBACK_TIMEOUT << oc.MODEL_SHIFT
                elif u < mc.total_rate:
                    code |= oc.WRONG << oc.MODEL_SHIFT
            yield env.timeout(w)
            return code
        except simpy.Interrupt:
            if calling:  # the request's deadline (or the pod's end) cancelled the call: a failure
                pod.breaker.record(float(env.now), True, permit == TRIAL)
            return oc.RESET


def simulate_reference(
    profile: SystemProfile,
    scenario: Scenario,
    rng: np.random.Generator,
    offsets: Sequence[float] | None = None,
) -> Trace:
    """Every request attempt of one replication, the per-request way. Rollouts are the kernel's
    alone (their pods' per-revision model chaos is checked against hand-computed cases instead)."""
    if scenario.rollouts:
        raise SimulationError("the reference model does not play rollouts; use sim.kernel")
    offsets, kubelet, shift = placement(profile, rng, offsets)
    model = ReferenceModel(profile, scenario, rng)
    cluster = Cluster(model.env, profile, offsets, model.on_cluster, kubelet_offsets=kubelet)
    model.cluster = cluster
    horizon = scenario.horizon
    for fault in scenario.pod_faults:
        cluster.inject(fault, rng, horizon)
    users = model.load.users
    period = users / model.load.rps
    start = model.load.start_delay
    if model.load.arrival == "closed":
        firsts = [first_start(user_phase(u, shift), period, start) for u in range(users)]
    else:
        firsts = [start] * users
    for first in firsts:
        model.env.process(model.user(first))
    # let requests still in flight at the horizon finish (the client gives up by its timeout)
    model.env.run(until=horizon + profile.client.timeout + 1.0)
    events = tuple(e for e in cluster.events if e.time < horizon)
    timeline = Timeline(
        events, cluster.replicas, horizon, tuple(offsets), kubelet_offsets=kubelet or (), load_shift=shift
    )
    send, begin, finish, codes = model.records
    breaker = [e for e in model.breaker_events if e.time < horizon]
    return Trace.from_lists(send, begin, finish, codes, timeline, breaker, model.served)
