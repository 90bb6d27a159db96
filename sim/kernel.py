"""The request kernel: every request of a replication, in time order, through a played timeline.

The cluster's timeline (`sim.timeline`) does not depend on requests, so it is played first; this
kernel then takes attempts in the order they are sent and applies the timeline's changes (pod down
or up, load-balancer rotation) as it passes them. Per pod it keeps a heap of slot-free times (FCFS:
an attempt takes the earliest free slot), a deque of the times queued attempts leave the queue, and
a circuit breaker fed with call outcomes in completion order (`DeferredBreaker`). Random values are
drawn in numpy blocks and read from lists. Everything is local variables in one loop: this is the
hot path, written for speed rather than elegance.

One attempt:
1. the load balancer picks the next pod of its rotation (round-robin); none: "unavailable";
2. a pod that does not serve refuses at once ("refused");
3. if every slot is busy the attempt queues; more than `maxQueue` waiting: "overload" at once;
4. the server's deadline `requestTimeout` (from arrival at the pod, queueing included) cuts it
   ("timeout"); a pod going down while it waits or works ends it ("reset");
5. work = feature-store call (skipped when the breaker is open or a half-open trial is in flight;
   the call gives up at the per-call timeout; failed or slow calls count against the breaker, and
   so does a call the request's deadline cancels) +
   model time. Without live features the pod's cache may have them (sim/cache.py: followed per
   entity, or with probability `hitRate`), else default features go to the fallback model. Model
   chaos (primary model only): an exception or a hang (cut at `modelDeadline`, after the service
   time) hands over to the fallback model; a wrong prediction is still a success; a call slower
   than `slowCallDuration` (>=) counts as failed for the breaker. Each pod runs the model chaos and
   model version of its template revision (`Scenario.templates`; a rollout's pods differ);
6. the answer (any outcome, errors included) reaches the client `requestOverhead` later when the
   profile has one (one draw per attempt, from its own generator spawned from the replication's, so
   the other draws are the same with or without it); the client gives up after its own timeout
   ("timeout"), the overhead included, and retries errors up to `retries` times at once;
   closed-loop users then wait for their pacing period (Locust `constant_pacing`).

As in service/predictor.py, the service time is spent on every admitted request (whichever model
answers); the fallback model's own work is negligible.
"""

from __future__ import annotations

import heapq
import math
from array import array
from bisect import bisect_left, bisect_right
from collections import deque
from functools import partial

import numpy as np

from chaos.pacing import first_start, user_phase
from chaos.system import SystemProfile
from sim.breaker import CALL, OPEN, REJECT, TRIAL, CircuitBreaker, DeferredBreaker
from sim.cache import cache_model, reads_back_sampler
from sim.outcomes import (
    CACHE,
    DEFAULT,
    FALLBACK_ERROR,
    FALLBACK_FEATURES,
    FALLBACK_TIMEOUT,
    FEATURES_SHIFT,
    MODEL_SHIFT,
    OVERLOAD,
    REFUSED,
    RESET,
    ROLLED,
    STATUS_MASK,
    TIMEOUT,
    UNAVAILABLE,
    WRONG,
)
from sim.scenario import Scenario
from sim.store import LOST, Connections, StoreFaults
from sim.timeline import LB_IN, POD_DOWN, POD_TEMPLATE, POD_UP, Event, Timeline
from sim.trace import Trace
from sim.variates import BLOCK, sampler, uniforms

INF = math.inf
COMPACT = 1 << 14  # drop consumed pending entries this often


def _insert(due: list[float], who: list[int], head: int, when: float, uid: int) -> None:
    """Put sender `uid` at `when` into the sorted pending lists (after equal times)."""
    at = bisect_right(due, when, head)
    due.insert(at, when)
    who.insert(at, uid)


def _forget_reads(reads: list[array[float]], before: float) -> None:
    """Drop the read times before `before` (older than an entry lives: they can never serve again)."""
    for pod_reads in reads:
        del pod_reads[: bisect_left(pod_reads, before)]


def _breaker_log(events: list[Event], pod: int, now: float, state: str) -> None:
    events.append(Event(now, f"breaker-{state}", pod))


def run_requests(
    profile: SystemProfile, scenario: Scenario, timeline: Timeline, rng: np.random.Generator
) -> Trace:
    """Every attempt the load sends over the scenario's horizon, through `timeline`."""
    svc, load = profile.service, scenario.load or profile.load
    n, c, max_queue = timeline.slots, svc.concurrency, svc.max_queue  # every pod slot, surge ones too
    rto, client_timeout, retries = svc.request_timeout, profile.client.timeout, profile.client.retries
    store_timeout, slow_call = profile.feature_store.timeout, profile.breaker.slow_call
    hit_rate = profile.cache.hit_rate
    mc = profile.model_chaos
    chaos_on = mc.enabled if scenario.model_chaos is None else scenario.model_chaos
    deadline = mc.model_deadline
    # per template revision: None (no model chaos) or the cumulative (exception, timeout, any) rates
    rev_chaos: list[tuple[float, float, float] | None] = []
    for template in scenario.templates:
        tc = template.model_chaos or mc
        on = chaos_on if template.model_chaos is None else tc.enabled
        cumulative = (tc.exception_rate, tc.exception_rate + tc.timeout_rate, tc.total_rate)
        rev_chaos.append(cumulative if on else None)
    rev_rolled = [t.model_version is not None for t in scenario.templates]
    rev = [0] * n  # each slot's revision
    code_rolled = ROLLED << MODEL_SHIFT
    horizon = scenario.horizon
    code_cache = CACHE << FEATURES_SHIFT
    code_default = DEFAULT << FEATURES_SHIFT | FALLBACK_FEATURES << MODEL_SHIFT
    code_wrong = WRONG << MODEL_SHIFT
    code_error = FALLBACK_ERROR << MODEL_SHIFT
    code_hang = FALLBACK_TIMEOUT << MODEL_SHIFT

    # random streams, drawn in blocks
    draw_service, draw_store = sampler(svc.service_time, rng), sampler(profile.feature_store.latency, rng)
    draw_uniform = uniforms(rng)
    service_v, store_v, uniform_v = draw_service(BLOCK), draw_store(BLOCK), draw_uniform(BLOCK)
    si = fi = ui = 0
    store = StoreFaults(scenario.store_faults, horizon, rng)
    store_on, store_lo, store_hi = bool(store), store.start, store.end
    conns = Connections(n)
    overhead_on = profile.request_overhead is not None
    if profile.request_overhead is not None:
        draw_overhead = sampler(profile.request_overhead, rng.spawn(1)[0])
        overhead_v, oi = draw_overhead(BLOCK), 0
    served: list[float] | None = [] if overhead_on else None
    record_served = served.append if served is not None else None

    # the pods' feature caches (sim/cache.py), when the load says how many entities it asks about:
    # per pod the times of its live reads since its container started; a lookup goes back a
    # geometric number of them to the last read of its entity
    follow, ttl, keep = cache_model(profile, load)
    draw_back = reads_back_sampler(rng, max(1, load.entities))
    back_v = draw_back(BLOCK) if follow else []
    bi = 0
    reads = [array("d") for _ in range(n)]  # raw doubles: no float object is kept alive per read
    add_read = [r.append for r in reads]

    # the timeline's changes, and when each pod next goes down
    changes = timeline.changes()
    changes.append((INF, -1, -1))
    ci = 0
    next_change = changes[0][0]
    downs = timeline.down_times()
    down_index = [0] * n
    next_down = [d[0] if d else INF for d in downs]
    replicas = timeline.replicas
    serving = [p < replicas for p in range(n)]  # the surge slots start empty
    in_rotation = list(serving)
    rotation = list(range(replicas))
    n_rotation, rr = replicas, 0

    # pods. When the server's deadline is no later than the client's, a user's request has left the
    # server before the user sends the next one, so a queue of `users` places never overflows and
    # nobody needs to count who waits.
    track_queue = max_queue < load.users or client_timeout < rto
    slots = [[0.0] * c for _ in range(n)]
    queues: list[deque[float]] = [deque() for _ in range(n)]
    breaker_events: list[Event] = []

    def new_breaker(pod: int) -> DeferredBreaker:
        return DeferredBreaker(CircuitBreaker(profile.breaker, partial(_breaker_log, breaker_events, pod)))

    breakers = [new_breaker(p) for p in range(n)]
    quiet = [True] * n  # breaker closed, nothing counted or pending: successes need no bookkeeping
    open_until = [0.0] * n  # breaker open until then: no need to ask it

    # who sends next: the load generator's users, each waiting for its answer before its next
    # request (load/_pacing.py).
    # closed: constant pacing on a grid (load/_pacing.py), users at golden-ratio phases of one period,
    #   each sending first at its first grid point after the load started. They sit in a time-sorted
    #   pair of lists read from `head`: almost every new entry is the latest so far and is appended;
    #   the others are inserted in order (ties: first in, first out).
    # poisson: every user has its own Poisson schedule of rate 1 / period, stationary from the load's
    #   start, and starts an overdue request as soon as its previous one ends. The users' schedules
    #   together are one Poisson stream of rate `rps` whose points belong to uniformly drawn users,
    #   so the stream is drawn in blocks; a point for a user still waiting becomes an overdue send in
    #   the `later` heap (one per user at most, `backlog` counts the rest).
    users = load.users
    period = users / load.rps
    lateness = load.pacing_lateness  # closed: each start this much later than its pacing asks
    closed = load.arrival == "closed"
    # closed: each user's next grid point; the users start `start_delay` into the run, the grid at
    # the timeline's shift (chaos.pacing)
    shift = timeline.load_shift
    schedule = [first_start(user_phase(u, shift), period, load.start_delay) for u in range(users)]
    tries = [0] * users
    who, head = sorted(range(users), key=schedule.__getitem__), 0
    due = [schedule[u] for u in who]
    busy = [0.0] * users  # poisson: when the user's last request ended (INF: an overdue send is queued)
    backlog = [0] * users  # poisson: further overdue sends of the user
    later: list[tuple[float, int]] = []
    gap = 1.0 / load.rps
    gaps: list[float] = rng.exponential(gap, BLOCK).tolist() if not closed else []
    picks: list[int] = rng.integers(users, size=BLOCK).tolist() if not closed else []
    gi = 0
    arrival = load.start_delay + gaps[0] if gaps else INF

    send: list[float] = []
    begin: list[float] = []
    finish: list[float] = []
    codes: list[int] = []
    record_send, record_begin, record_end, record_code = (
        send.append,
        begin.append,
        finish.append,
        codes.append,
    )
    heapreplace, heappush, heappop = heapq.heapreplace, heapq.heappush, heapq.heappop

    while True:
        if closed:
            t = due[head]
            if t >= horizon:
                break
            uid = who[head]
            head += 1
            if head == COMPACT:  # keep the entry just taken: `due[-1]` must exist
                del due[: head - 1], who[: head - 1]
                head = 1
                if follow:
                    _forget_reads(reads, t - ttl)
        elif later and later[0][0] <= arrival:
            t, uid = heappop(later)
            if t >= horizon:
                break
        else:
            t = arrival
            if t >= horizon:
                break
            uid = picks[gi]
            gi += 1
            if gi == BLOCK:
                if follow:
                    _forget_reads(reads, t - ttl)
                gaps, picks, gi = (
                    rng.exponential(gap, BLOCK).tolist(),
                    rng.integers(users, size=BLOCK).tolist(),
                    0,
                )
            arrival = t + gaps[gi]
            ready = busy[uid]
            if ready > t:  # still waiting for its previous answer: this request is overdue
                if ready == INF:
                    backlog[uid] += 1
                else:
                    heappush(later, (ready, uid))
                    busy[uid] = INF
                continue
        while t >= next_change:
            _, kind, p = changes[ci]
            if kind == POD_DOWN:
                serving[p] = False
                breakers[p].settle(next_change)
                breakers[p] = new_breaker(p)
                quiet[p] = True
                open_until[p] = 0.0
                slots[p] = [0.0] * c
                queues[p].clear()
                conns.reset(p)  # a new container connects when it needs to
                del reads[p][:]  # the cache lives in the container's memory
                k = down_index[p] = down_index[p] + 1
                next_down[p] = downs[p][k] if k < len(downs[p]) else INF
            elif kind == POD_UP:
                serving[p] = True
            elif kind >= POD_TEMPLATE:
                rev[p] = kind - POD_TEMPLATE
            else:
                in_rotation[p] = kind == LB_IN
                rotation = [i for i in range(n) if in_rotation[i]]
                n_rotation = len(rotation)
                rr = rr % n_rotation if n_rotation else 0
            ci += 1
            next_change = changes[ci][0]

        if not n_rotation:
            start = end = t
            code = UNAVAILABLE
        else:
            p = rotation[rr]
            rr += 1
            if rr == n_rotation:
                rr = 0
            if not serving[p]:
                start = end = t
                code = REFUSED
            else:
                slot = slots[p]
                start = slot[0]
                cut = t + rto
                admitted = True
                if start <= t:
                    start = t
                elif track_queue:
                    queue = queues[p]
                    while queue and queue[0] <= t:
                        queue.popleft()
                    if len(queue) >= max_queue:
                        admitted = False
                    else:
                        queue.append(start if start < cut else cut)
                nd = next_down[p]
                if not admitted:
                    start = end = t
                    code = OVERLOAD
                elif start >= cut or start >= nd:  # never gets a slot
                    if nd < cut:
                        start = end = nd
                        code = RESET
                    else:
                        start = end = cut
                        code = TIMEOUT
                else:
                    # the feature-store call, as the breaker allows
                    if quiet[p]:
                        permit = CALL
                    elif start < open_until[p]:
                        permit = REJECT
                    else:
                        breaker = breakers[p]
                        permit = breaker.allow(start)
                        if breaker.breaker.state == OPEN:
                            open_until[p] = breaker.breaker.open_until
                        quiet[p] = breaker.quiet
                    if permit:
                        d = store_v[fi]
                        fi += 1
                        if fi == BLOCK:
                            store_v, fi = draw_store(BLOCK), 0
                        if store_on:
                            idle = conns.take(p, start)
                            if store_lo <= start < store_hi:
                                d = store.call_time(start, d, idle is None)
                                if d == LOST:
                                    d = store_timeout
                            conns.release(p, idle, start + min(d, store_timeout), d >= store_timeout)
                        if d >= store_timeout:
                            d = store_timeout
                            live = False
                            failed = True
                        else:
                            live = True
                            failed = d >= slow_call
                        answered = start + d
                        if answered > cut:  # the deadline cancels the call: a failure then
                            answered, failed = cut, True
                        if failed or not quiet[p]:
                            breaker = breakers[p]
                            breaker.add(answered, failed, permit == TRIAL)
                            quiet[p] = breaker.quiet
                    else:
                        d = 0.0
                        live = False
                        answered = start
                    if follow and live and answered < cut:
                        add_read[p](answered)
                    # the model
                    if live:
                        code = 0
                    else:
                        u = uniform_v[ui]
                        ui += 1
                        if ui == BLOCK:
                            uniform_v, ui = draw_uniform(BLOCK), 0
                        if follow:
                            k = back_v[bi]
                            bi += 1
                            if bi == BLOCK:
                                back_v, bi = draw_back(BLOCK), 0
                            pod_reads = reads[p]
                            hit = k <= len(pod_reads) and pod_reads[-k] + ttl > answered and u < keep
                        else:
                            hit = u < hit_rate
                        code = code_cache if hit else code_default
                    w = service_v[si]
                    si += 1
                    if si == BLOCK:
                        service_v, si = draw_service(BLOCK), 0
                    rates = rev_chaos[rev[p]]
                    if rates is not None and code != code_default:
                        u = uniform_v[ui]
                        ui += 1
                        if ui == BLOCK:
                            uniform_v, ui = draw_uniform(BLOCK), 0
                        if u < rates[2]:
                            if u < rates[0]:
                                code |= code_error
                            elif u < rates[1]:
                                w += deadline
                                code |= code_hang
                            else:
                                code |= code_wrong
                    if rev_rolled[rev[p]] and code >> MODEL_SHIFT == 0:  # the rolled-out version answered
                        code |= code_rolled
                    end = start + d + w
                    if end > cut:
                        end = cut
                        code = TIMEOUT
                    heapreplace(slot, end)
                    if end > nd:
                        end = nd
                        code = RESET
        if record_served is not None:  # the pods' side of it: as it would end without the overhead
            record_served(end if end - t <= client_timeout else t + client_timeout)
            end += overhead_v[oi]
            oi += 1
            if oi == BLOCK:
                overhead_v, oi = draw_overhead(BLOCK), 0
        if end - t > client_timeout:
            end = t + client_timeout
            code = TIMEOUT
        record_send(t)
        record_begin(start)
        record_end(end)
        record_code(code)

        # the user's next attempt: a retry at once, else its next iteration
        if retries and code & STATUS_MASK and tries[uid] < retries:
            tries[uid] += 1
            if closed:
                _insert(due, who, head, end, uid)
            else:
                heappush(later, (end, uid))
                busy[uid] = INF
            continue
        if retries:
            tries[uid] = 0
        if not closed:
            if backlog[uid]:
                backlog[uid] -= 1
                heappush(later, (end, uid))
                busy[uid] = INF
            else:
                busy[uid] = end
            continue
        nt = schedule[uid] + period
        if nt < end:
            nt = end
        nt += lateness
        schedule[uid] = nt
        if nt >= due[-1]:
            due.append(nt)
            who.append(uid)
        else:
            _insert(due, who, head, nt, uid)

    for breaker in breakers:
        breaker.settle(horizon)
    return Trace.from_lists(send, begin, finish, codes, timeline, breaker_events, served)
