"""The runner: one experiment on a live system, from its validated spec to its run record.

    validate (the caller: chaos.spec.load_experiment) -> recover what a crashed run left (marker)
    -> check prerequisites -> guard the blast radius -> predict -> start load -> baseline
    -> steady-state check (else refuse: roll back, record why) -> inject each chaos step at its
    offset -> observe (abort conditions every second on the live request stream) -> recover the
    chaos at the end of the chaos phase -> recovery phase -> stop load -> verify success criteria
    -> write the run record.

Rollback is a phase of its own and always runs: after success, abort, refusal, error and SIGINT /
SIGTERM (turned into an exception by runner.interrupts, shielded while rolling back). It deletes every
chaos object still active, then stops the load. A crash marker on the testbed lists what is in
flight until the rollback is done (runner.marker, runner.cleanup).

Everything the runner touches is a seam, so that its tests run in milliseconds with small fakes:
the clock (unix time and sleep), the chaos executor (runner.executors.local.LocalExecutor's
interface), the load starter (runner.load_driver.LoadRun's interface), the Prometheus reader, the
testbed view and the predictor. Times in events are unix seconds; the run's origin is the moment
the load's first phase began, and phases, offsets and observations count from there.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from chaos.errors import ChaosLabError
from chaos.processes import record_of
from chaos.record import PREDICTION, Event, EventKind, ReadySample, RunStatus
from chaos.selection import max_count
from chaos.spec import ChaosStep, Experiment
from runner.abort import AbortWatch
from runner.cleanup import CleanupReport, cleanup, still_injected
from runner.executors.base import ONE_SHOT_ACTIONS, Condition
from runner.finish import collect_outcome, write_record
from runner.interrupts import Interrupted, InterruptGuard, interrupts_as_exceptions
from runner.load_driver import LoadError
from runner.marker import ChaosState, InFlight, InjectedChaos, owner_alive, this_process
from runner.prerequisites import check_prerequisites
from runner.record import RunRecord
from runner.results import (
    BlastRadiusError,
    DryRun,
    PlannedStep,
    Progress,
    RunAborted,
    RunResult,
    SteadyStateRefused,
)
from runner.seams import HasProcess, LoadHandle, Seams
from runner.state import Injected, RunOptions, RunState
from runner.steady_state import check_steady_state

log = logging.getLogger(__name__)

RECORD_FLUSH_SLACK = 2.0
"""Two flush intervals of the load's recorder (load/_records.py flushes every second): with the
client timeout, how long after a request starts its record is surely on disk."""


@dataclass(order=True)
class _Action:
    due: float
    order: int
    name: str = field(compare=False)
    run: Callable[[float], None] = field(compare=False)


# -- the runner ----------------------------------------------------------------------------------
class Runner:
    def __init__(
        self,
        experiment: Experiment,
        seams: Seams,
        options: RunOptions | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.experiment = experiment
        self.seams = seams
        self.options = options or RunOptions()
        self.on_progress = on_progress or (lambda progress: None)
        self.on_event = on_event or (lambda event: None)
        self.settle = experiment.system.client.timeout + RECORD_FLUSH_SLACK
        self._watch: AbortWatch | None = None
        self._state: RunState | None = None

    # -- dry run -------------------------------------------------------------------------------
    def dry_run(self) -> DryRun:
        """What a run would touch, read-only: no load, no chaos, no record, no marker."""
        leftovers = self.seams.the_marker().read()
        warnings: list[str] = []
        if leftovers is None:
            warnings = check_prerequisites(self.experiment, self.seams.testbed, self.seams.prometheus)
        self._guard_blast_radius()
        chaos_start = self.experiment.phases.baseline
        steps = []
        for step in self.experiment.chaos:
            targets = tuple(self.seams.executor.plan(step.manifest))
            ends = None if step.end is None else chaos_start + step.end
            steps.append(
                PlannedStep(chaos_start + step.after, step.manifest.describe(), str(step.path), targets, ends)
            )
        load = {"rps": self.experiment.load.rps, "users": self.experiment.load.users}
        return DryRun(self.experiment, tuple(steps), load, tuple(warnings), leftovers)

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> RunResult:
        seams, experiment = self.seams, self.experiment
        leftovers = self._recover_leftovers()
        warnings = check_prerequisites(experiment, seams.testbed, seams.prometheus)
        self._guard_blast_radius()
        try:
            forecast = seams.predictor(experiment) if seams.predictor is not None else None
        except KeyboardInterrupt:
            raise Interrupted("SIGINT received while predicting; nothing was touched") from None
        record = RunRecord.create(self.options.runs_root, experiment, seams.clock.now())
        state = self._state = RunState(record, forecast, warnings, leftovers, self.settle)
        if forecast is not None:
            record.write_json(PREDICTION, forecast.to_dict())
        if leftovers is not None:
            self._event(EventKind.CLEANUP, report=leftovers.to_json())
        for warning in warnings:
            self._event(EventKind.WARNING, message=warning)
        unexpected: BaseException | None = None
        with interrupts_as_exceptions() as guard:
            try:
                self._start_marker(state)
                self._execute(state, guard)
            except RunAborted as exc:
                state.status, state.reason, state.abort = RunStatus.ABORTED, str(exc), exc.trigger
            except SteadyStateRefused as exc:
                state.status, state.reason = RunStatus.REFUSED, str(exc)
            except Interrupted as exc:
                state.status, state.reason = RunStatus.INTERRUPTED, str(exc)
            except ChaosLabError as exc:
                state.status, state.reason = RunStatus.ERROR, exc.one_line()
            except Exception as exc:
                state.status, state.reason, unexpected = RunStatus.ERROR, f"{type(exc).__name__}: {exc}", exc
                log.exception("the run failed")
            finally:
                with guard.shielded():
                    self._rollback(state)
            with guard.shielded():
                state.signals = list(guard.received)
                state.end = state.end or seams.clock.now()
                finished = collect_outcome(experiment, state, seams.prometheus, self.options)
                state.status = finished.status
                self._event(
                    EventKind.RUN_END,
                    status=str(state.status),
                    reason=state.reason,
                    rollback_done=state.rollback_done,
                )
                report = write_record(state, finished)
        if unexpected is not None:
            raise unexpected
        results = finished.analysis.verdict.results
        passed = sum(1 for r in results if r.passed)
        return RunResult(
            state.status, record.path, state.reason, state.rollback_done, passed, len(results), report
        )

    def _execute(self, state: RunState, guard: InterruptGuard) -> None:
        load = self.seams.start_load(state.record.load_dir, self.experiment, self.settle)
        state.load = load
        if isinstance(load, HasProcess) and state.marker is not None:
            try:
                owner = record_of("load", load.process.pid)
            except ProcessLookupError:
                owner = None  # it has ended already; tail() will say why
            state.marker = replace(state.marker, load=owner)
            self.seams.the_marker().write(state.marker)
        try:
            self._drive(load, state)
        finally:
            with guard.shielded():
                self._rollback(state)
                self._stop_load(load, state)

    def _drive(self, load: LoadHandle, state: RunState) -> None:
        clock, phases = self.seams.clock, self.experiment.phases
        origin = load.wait_started(self.options.load_start_timeout)
        state.origin = origin
        self._watch = AbortWatch(self.experiment.abort_conditions, origin, active_from=phases.baseline)
        self._event(EventKind.LOAD_STARTED, at=origin)
        actions = self._schedule(state)
        next_tick = origin
        while actions:
            now = clock.now()
            if now >= next_tick:
                self._tick(load, state, now)
                while next_tick <= now:
                    next_tick += self.options.tick
            while actions and origin + actions[0].due <= now:
                action = actions.pop(0)
                action.run(now)
            if actions:
                clock.sleep(max(0.0, min(next_tick, origin + actions[0].due) - clock.now()))

    def _schedule(self, state: RunState) -> list[_Action]:
        bounds = self.experiment.phases.bounds()
        chaos_start, chaos_end = bounds["chaos"]
        actions = [
            _Action(start, 0, f"phase {name}", self._phase_starts(name))
            for name, (start, _) in bounds.items()
        ]
        actions.append(_Action(chaos_start, 1, "steady state", lambda now: self._steady_state(state)))
        for index, step in enumerate(self.experiment.chaos):
            actions.append(_Action(chaos_start + step.after, 2 + index, "inject", self._injects(state, step)))
        order = 2 + len(self.experiment.chaos)
        actions.append(
            _Action(chaos_end, order, "recover", lambda now: self._recover_all(state, "chaos phase over"))
        )
        actions.append(_Action(self.experiment.phases.total, order + 1, "end", lambda now: self._end(state)))
        return sorted(actions)

    def _phase_starts(self, name: str) -> Callable[[float], None]:
        return lambda now: self._event(EventKind.PHASE, phase=name)

    def _injects(self, state: RunState, step: ChaosStep) -> Callable[[float], None]:
        return lambda now: self._inject(state, step)

    # -- every tick ----------------------------------------------------------------------------
    def _tick(self, load: LoadHandle, state: RunState, now: float) -> None:
        assert self._watch is not None and state.origin is not None
        records = load.tail()
        state.released.extend(records)
        self._watch.add(records)
        if not load.running and now < state.origin + self.experiment.phases.total - self.options.tick:
            raise LoadError(
                f"the load ended {now - state.origin:.0f} s into a {self.experiment.phases.total:g} s run"
            )
        ready, desired = self._sample_pods(state, now)
        self._watch.add_ready(now, ready)
        self._note_recoveries(state, now)
        trigger = self._watch.advance(now - self.settle)
        self._mitigate(state, now)
        self.on_progress(self._progress(state, now, ready, desired))
        if trigger is not None:
            self._event(EventKind.ABORT, condition=trigger.condition.name, detail=trigger.describe())
            raise RunAborted(trigger)

    def _mitigate(self, state: RunState, now: float) -> None:
        """The on-call's early rollback, once chaos is in place (RunOptions.mitigation)."""
        mitigation = self.options.mitigation
        if mitigation is None or state.mitigated or not state.injected:
            return
        first = min(i.at for i in state.injected.values())
        notice = mitigation.observe(now, first)
        if notice is not None:
            self._event(EventKind.ALERT_NOTICED, alert=notice.alert, after=notice.after)
        decision = mitigation.decide(now)
        if decision is None:
            return
        state.mitigated = True
        self._event(EventKind.MITIGATE, reason=decision.reason, by=decision.by, after=now - first)
        self._recover_all(state, decision.reason)  # what already ended (a pod-kill) is left alone

    def _sample_pods(self, state: RunState, now: float) -> tuple[int, int]:
        pods = self.seams.testbed.pods()
        desired = self.seams.testbed.desired()
        ready = sum(1 for p in pods if p.ready)
        state.samples.append(ReadySample(now, ready, desired))
        current = {p.name: p.ready for p in pods}
        for name, is_ready in current.items():
            before = state.pods.get(name)
            if before is None and state.pods:
                self._event(EventKind.POD_CREATED, pod=name, ready=is_ready)
            elif before is not None and before != is_ready:
                self._event(EventKind.POD_READY if is_ready else EventKind.POD_NOT_READY, pod=name)
        for name in state.pods.keys() - current.keys():
            self._event(EventKind.POD_DELETED, pod=name)
        state.pods = current
        return ready, desired

    def _note_recoveries(self, state: RunState, now: float) -> None:
        """Chaos that ended by itself (its duration elapsed)."""
        for key, item in state.injected.items():
            if item.ended is None and item.status.conditions[Condition.ALL_RECOVERED]:
                duration = item.status.duration
                item.ended = min(now, item.at + duration) if duration is not None else now
                self._event(EventKind.RECOVERED, chaos=key, reason="duration elapsed")
                self._mark(state, item, ChaosState.RECOVERED)

    def _progress(self, state: RunState, now: float, ready: int, desired: int) -> Progress:
        assert state.origin is not None and self._watch is not None
        elapsed = now - state.origin
        phase = next(
            (n for n, (s, e) in self.experiment.phases.bounds().items() if s <= elapsed < e), "ending"
        )
        active = tuple(k for k, i in state.injected.items() if i.ended is None)
        return Progress(
            phase, elapsed, self.experiment.phases.total, self._watch.live(), ready, desired, active
        )

    # -- scheduled actions ---------------------------------------------------------------------
    def _steady_state(self, state: RunState) -> None:
        assert state.origin is not None
        baseline_end = state.origin + self.experiment.phases.baseline
        window = [r for r in state.released if state.origin <= r.time < baseline_end]
        covered = min(self.experiment.phases.baseline, self.seams.clock.now() - self.settle - state.origin)
        steady = check_steady_state(self.experiment, window, max(covered, self.options.tick))
        state.steady = steady
        self._event(EventKind.STEADY_STATE, **steady.to_dict())
        if not steady.holds:
            raise SteadyStateRefused("; ".join(steady.failures))

    def _inject(self, state: RunState, step: ChaosStep) -> None:
        m = step.manifest
        entry = InjectedChaos(m.kind, m.action, m.namespace, m.name, str(step.path))
        self._update_marker(state, entry)
        faults_before = set(self.seams.testbed.faults()) if m.is_network_chaos else set()
        at = self.seams.clock.now()
        status = self.seams.executor.apply(m)
        targets = tuple(r.id for r in status.records)
        faults = tuple(sorted(set(self.seams.testbed.faults()) - faults_before)) if m.is_network_chaos else ()
        item = Injected(step, status, at, replace(entry, targets=targets, faults=faults))
        state.injected[status.key] = item
        self._mark(state, item, ChaosState.INJECTED)
        if m.action in ONE_SHOT_ACTIONS:
            item.ended = at
        self._event(
            EventKind.INJECT, chaos=status.key, action=m.action, resource=m.kind, targets=list(targets), at=at
        )
        limit = self._pod_limit()
        if m.is_pod_chaos and len(targets) > limit:
            raise BlastRadiusError(f"{m.source}: hit {len(targets)} pods, above the limit of {limit:g}")

    def _recover_all(self, state: RunState, reason: str) -> None:
        for key, item in state.injected.items():
            if not item.status.active:
                continue
            status = self.seams.executor.recover(item.status.namespace, item.status.name)
            item.status = status
            now = self.seams.clock.now()
            if item.ended is None:
                item.ended = now
            self._event(EventKind.RECOVER, chaos=key, reason=reason)
            self._mark(state, item, ChaosState.RECOVERED)

    def _end(self, state: RunState) -> None:
        self._event(EventKind.PHASE, phase="end")
        load = state.load
        if load is not None:
            load.wait(self.options.load_end_grace)

    # -- rollback ------------------------------------------------------------------------------
    def _rollback(self, state: RunState) -> None:
        """Recover every chaos still active, check the testbed has nothing of it left, then remove
        the marker (it stays, listing what is left, when anything is)."""
        recovered: list[str] = []
        errors: list[str] = []
        for status in self.seams.executor.statuses():
            if not status.active:
                continue
            try:
                self.seams.executor.recover(status.namespace, status.name)
            except ChaosLabError as exc:
                errors.append(f"{status.key}: {exc}")
                continue
            recovered.append(status.key)
            item = state.injected.get(status.key)
            if item is not None:
                item.ended = item.ended or self.seams.clock.now()
                self._mark(state, item, ChaosState.RECOVERED)
        if state.marker is not None:
            try:
                errors += still_injected(state.marker.chaos, self.seams.testbed)
            except ChaosLabError as exc:
                errors.append(f"could not check what is left on the testbed: {exc}")
        first = not state.rolled_back
        state.rolled_back, state.rollback_errors, state.rollback_done = True, errors, not errors
        if recovered or errors or first:
            self._event(EventKind.ROLLBACK, recovered=recovered, errors=errors, done=state.rollback_done)
        if state.rollback_done and state.marker is not None:
            self.seams.the_marker().remove()
            state.marker = None

    def _stop_load(self, load: LoadHandle, state: RunState) -> None:
        try:
            state.released.extend(load.stop())
        except ChaosLabError as exc:
            state.problems.append(f"stopping the load: {exc}")
        state.end = self.seams.clock.now()
        self._event(EventKind.LOAD_STOPPED)

    # -- marker --------------------------------------------------------------------------------
    def _recover_leftovers(self) -> CleanupReport | None:
        marker = self.seams.the_marker()
        inflight = marker.read()
        if inflight is None:
            return None
        if not owner_alive(inflight):
            log.warning("a crashed run left chaos in flight (%s); recovering it first", inflight.record_dir)
        return cleanup(marker, self.seams.testbed, clock=self.seams.clock.now)

    def _start_marker(self, state: RunState) -> None:
        state.marker = InFlight(
            this_process(), str(state.record.path), self.seams.testbed.location, self.seams.clock.now()
        )
        self.seams.the_marker().write(state.marker)

    def _update_marker(self, state: RunState, entry: InjectedChaos) -> None:
        if state.marker is None:
            return
        state.marker = state.marker.with_chaos(entry)
        self.seams.the_marker().write(state.marker)

    def _mark(self, state: RunState, item: Injected, phase: ChaosState) -> None:
        item.entry = replace(item.entry, state=phase)
        self._update_marker(state, item.entry)

    # -- guard and events ----------------------------------------------------------------------
    def _pod_limit(self) -> float:
        scope = self.experiment.scope
        replicas = self.seams.testbed.desired()
        limit = replicas * scope.max_percent / 100
        return limit if scope.max_pods is None else min(limit, scope.max_pods)

    def _guard_blast_radius(self) -> None:
        """Refuse pod chaos that may hit more pods than the scope allows on the running system."""
        limit, replicas = self._pod_limit(), self.seams.testbed.desired()
        for step in self.experiment.chaos:
            m = step.chaos_mesh
            if m is not None and m.is_pod_chaos and max_count(m.mode, m.value, replicas) > limit:
                hit = max_count(m.mode, m.value, replicas)
                raise BlastRadiusError(
                    f"{m.source}: {m.mode} {m.value or ''} may hit {hit} of {replicas} pods, above the "
                    f"scope's limit of {math.floor(limit)} (maxPercent {self.experiment.scope.max_percent:g})"
                )

    def _event(self, kind: EventKind, /, **detail: Any) -> None:
        state = self._state
        event = Event(self.seams.clock.now(), kind, detail)
        if state is not None:
            state.events.append(event)
            state.record.append_event(event)
        self.on_event(event)
