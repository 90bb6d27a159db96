"""The runner: one experiment on a live system, from its validated spec to its run record.

    validate (the caller: chaos.spec.load_experiment) -> recover what a crashed run left (marker)
    -> check prerequisites -> guard the blast radius -> predict -> start load -> baseline
    -> steady-state check (else refuse: roll back, record why) -> inject each chaos step at its
    offset -> observe (abort conditions every second on the live request stream) -> recover the
    chaos at the end of the chaos phase -> recovery phase -> stop load -> verify success criteria
    -> write the run record.

Rollback is a phase of its own and always runs: after success, abort, refusal, error and SIGINT /
SIGTERM (turned into an exception by chaos.interrupts, shielded while rolling back). It deletes every
chaos object still active, then stops the load. A crash marker on the testbed lists what is in
flight until the rollback is done (chaos.marker, chaos.cleanup).

Everything the runner touches is a seam, so that its tests run in milliseconds with small fakes:
the clock (unix time and sleep), the chaos executor (chaos.local_executor.LocalExecutor's
interface), the load starter (chaos.load_driver.LoadRun's interface), the Prometheus reader, the
testbed view and the predictor. Times in events are unix seconds; the run's origin is the moment
the load's first phase began, and phases, offsets and observations count from there.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chaos.abort import AbortTrigger, AbortWatch
from chaos.cleanup import CleanupReport, cleanup, still_injected
from chaos.errors import ChaosLabError
from chaos.interrupts import Interrupted, InterruptGuard, interrupts_as_exceptions
from chaos.load_driver import LoadError
from chaos.marker import INJECTED, RECOVERED, InFlight, InjectedChaos, owner_alive, this_process
from chaos.observed import ReadySample
from chaos.prerequisites import check_prerequisites
from chaos.run_finish import collect_outcome, write_record
from chaos.run_record import Event, RunRecord
from chaos.run_seams import HasProcess, LoadHandle, Seams
from chaos.run_state import (
    ABORTED,
    ERROR,
    EXIT_CODES,
    FAILED,
    INTERRUPTED,
    PASSED,
    REFUSED,
    Injected,
    RunOptions,
    RunState,
)
from chaos.selection import max_count
from chaos.spec import ChaosStep, Experiment
from chaos.steady_state import check_steady_state
from testbed.processes import record_of

log = logging.getLogger(__name__)

RECORD_FLUSH_SLACK = 2.0
"""Two flush intervals of the load's recorder (load/_records.py flushes every second): with the
client timeout, how long after a request starts its record is surely on disk."""
ONE_SHOT = ("pod-kill", "container-kill")


# -- results and progress -------------------------------------------------------------------------
class SteadyStateRefused(ChaosLabError):
    """The baseline did not meet the hypothesis' thresholds; no chaos was injected."""

    hint = "the run record's summary.md shows the baseline; fix the service or the thresholds"


class BlastRadiusError(ChaosLabError):
    """A chaos step would touch more pods than the experiment's scope allows."""

    hint = "lower the manifest's mode/value or raise scope.blastRadius"


class RunAborted(ChaosLabError):
    """An abort condition held long enough; the chaos was rolled back."""

    def __init__(self, trigger: AbortTrigger) -> None:
        self.trigger = trigger
        super().__init__(trigger.describe())


@dataclass(frozen=True)
class Progress:
    phase: str
    elapsed: float
    total: float
    live: dict[str, float | None]
    ready: int | None
    desired: int | None
    injected: tuple[str, ...]


@dataclass(frozen=True)
class RunResult:
    status: str
    record_dir: Path
    reason: str
    rollback_done: bool
    passed: int
    criteria: int

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


@dataclass(frozen=True)
class PlannedStep:
    at: float
    manifest: str
    source: str
    targets: tuple[str, ...]
    ends: float | None


@dataclass(frozen=True)
class DryRun:
    experiment: Experiment
    steps: tuple[PlannedStep, ...]
    load: dict[str, Any]
    warnings: tuple[str, ...]
    leftovers: InFlight | None

    def lines(self) -> list[str]:
        e = self.experiment
        out = [f"dry run of {e.name} ({e.source}): nothing is touched"]
        if self.leftovers is not None:
            pending = ", ".join(c.key for c in self.leftovers.pending) or "nothing pending"
            out.append(f"a crashed run left a marker ({self.leftovers.record_dir}): would recover {pending}")
        out.append(
            f"load: {e.load.rps:g} rps from {e.load.users} users ({e.load.arrival}); phases "
            + ", ".join(f"{name} {end - start:g} s" for name, (start, end) in e.phases.bounds().items())
        )
        for s in self.steps:
            end = "at the end of the chaos phase" if s.ends is None else f"at {s.ends:g} s"
            out.append(f"at {s.at:g} s: {s.manifest} ({s.source}) on {', '.join(s.targets)}; recovered {end}")
        out.extend(f"warning: {w}" for w in self.warnings)
        return out


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
        record = RunRecord.create(self.options.runs_root, experiment, seams.clock.time())
        state = self._state = RunState(record, forecast, warnings, leftovers, self.settle)
        if forecast is not None:
            record.write_json("prediction.json", forecast)
        if leftovers is not None:
            self._event("cleanup", report=leftovers.to_json())
        for warning in warnings:
            self._event("warning", message=warning)
        unexpected: BaseException | None = None
        with interrupts_as_exceptions() as guard:
            try:
                self._start_marker(state)
                self._execute(state, guard)
            except RunAborted as exc:
                state.status, state.reason, state.abort = ABORTED, str(exc), exc.trigger
            except SteadyStateRefused as exc:
                state.status, state.reason = REFUSED, str(exc)
            except Interrupted as exc:
                state.status, state.reason = INTERRUPTED, str(exc)
            except ChaosLabError as exc:
                state.status, state.reason = ERROR, exc.one_line()
            except Exception as exc:
                state.status, state.reason, unexpected = ERROR, f"{type(exc).__name__}: {exc}", exc
                log.exception("the run failed")
            finally:
                with guard.shielded():
                    self._rollback(state)
            with guard.shielded():
                state.signals = list(guard.received)
                state.end = state.end or seams.clock.time()
                outcome = collect_outcome(experiment, state, seams.prometheus, self.options.seed)
                state.status = state.status or (PASSED if outcome.verdict.passed else FAILED)
                self._event(
                    "run-end", status=state.status, reason=state.reason, rollback_done=state.rollback_done
                )
                write_record(experiment, state, outcome, self.options)
        if unexpected is not None:
            raise unexpected
        results = outcome.verdict.results
        passed = sum(1 for r in results if r.passed)
        return RunResult(state.status, record.path, state.reason, state.rollback_done, passed, len(results))

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
        self._event("load-started", at=origin)
        actions = self._schedule(state)
        next_tick = origin
        while actions:
            now = clock.time()
            if now >= next_tick:
                self._tick(load, state, now)
                while next_tick <= now:
                    next_tick += self.options.tick
            while actions and origin + actions[0].due <= now:
                action = actions.pop(0)
                action.run(now)
            if actions:
                clock.sleep(max(0.0, min(next_tick, origin + actions[0].due) - clock.time()))

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
        return lambda now: self._event("phase", phase=name)

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
        self.on_progress(self._progress(state, now, ready, desired))
        if trigger is not None:
            self._event("abort", condition=trigger.condition.name, detail=trigger.describe())
            raise RunAborted(trigger)

    def _sample_pods(self, state: RunState, now: float) -> tuple[int, int]:
        pods = self.seams.testbed.pods()
        desired = self.seams.testbed.desired()
        ready = sum(1 for p in pods if p.ready)
        state.samples.append(ReadySample(now, ready, desired))
        current = {p.name: p.ready for p in pods}
        for name, is_ready in current.items():
            before = state.pods.get(name)
            if before is None and state.pods:
                self._event("pod-created", pod=name, ready=is_ready)
            elif before is not None and before != is_ready:
                self._event("pod-ready" if is_ready else "pod-not-ready", pod=name)
        for name in state.pods.keys() - current.keys():
            self._event("pod-deleted", pod=name)
        state.pods = current
        return ready, desired

    def _note_recoveries(self, state: RunState, now: float) -> None:
        """Chaos that ended by itself (its duration elapsed)."""
        for key, item in state.injected.items():
            if item.ended is None and item.status.conditions["AllRecovered"]:
                duration = item.status.duration
                item.ended = min(now, item.at + duration) if duration is not None else now
                self._event("recovered", chaos=key, reason="duration elapsed")
                self._mark(state, item, RECOVERED)

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
        covered = min(self.experiment.phases.baseline, self.seams.clock.time() - self.settle - state.origin)
        steady = check_steady_state(self.experiment, window, max(covered, self.options.tick))
        state.steady = steady
        self._event("steady-state", **steady.to_dict())
        if not steady.holds:
            raise SteadyStateRefused("; ".join(steady.failures))

    def _inject(self, state: RunState, step: ChaosStep) -> None:
        m = step.manifest
        entry = InjectedChaos(m.kind, m.action, m.namespace, m.name, str(step.path))
        self._update_marker(state, entry)
        faults_before = set(self.seams.testbed.faults()) if m.is_network_chaos else set()
        at = self.seams.clock.time()
        status = self.seams.executor.apply(m)
        targets = tuple(r.id for r in status.records)
        faults = tuple(sorted(set(self.seams.testbed.faults()) - faults_before)) if m.is_network_chaos else ()
        item = Injected(step, status, at, replace(entry, targets=targets, faults=faults))
        state.injected[status.key] = item
        self._mark(state, item, INJECTED)
        if m.action in ONE_SHOT:
            item.ended = at
        self._event(
            "inject", chaos=status.key, action=m.action, resource=m.kind, targets=list(targets), at=at
        )
        limit = self._pod_limit()
        if m.is_pod_chaos and len(targets) > limit:
            raise BlastRadiusError(f"{m.source}: hit {len(targets)} pods, above the limit of {limit:g}")

    def _recover_all(self, state: RunState, reason: str) -> None:
        for key, item in state.injected.items():
            if item.status.desired_phase != "Run":
                continue
            status = self.seams.executor.recover(item.status.namespace, item.status.name)
            item.status = status
            now = self.seams.clock.time()
            if item.ended is None:
                item.ended = now
            self._event("recover", chaos=key, reason=reason)
            self._mark(state, item, RECOVERED)

    def _end(self, state: RunState) -> None:
        self._event("phase", phase="end")
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
            if status.desired_phase != "Run":
                continue
            try:
                self.seams.executor.recover(status.namespace, status.name)
            except ChaosLabError as exc:
                errors.append(f"{status.key}: {exc}")
                continue
            recovered.append(status.key)
            item = state.injected.get(status.key)
            if item is not None:
                item.ended = item.ended or self.seams.clock.time()
                self._mark(state, item, RECOVERED)
        if state.marker is not None:
            try:
                errors += still_injected(state.marker.chaos, self.seams.testbed)
            except ChaosLabError as exc:
                errors.append(f"could not check what is left on the testbed: {exc}")
        first = not state.rolled_back
        state.rolled_back, state.rollback_errors, state.rollback_done = True, errors, not errors
        if recovered or errors or first:
            self._event("rollback", recovered=recovered, errors=errors, done=state.rollback_done)
        if state.rollback_done and state.marker is not None:
            self.seams.the_marker().remove()
            state.marker = None

    def _stop_load(self, load: LoadHandle, state: RunState) -> None:
        try:
            state.released.extend(load.stop())
        except ChaosLabError as exc:
            state.problems.append(f"stopping the load: {exc}")
        state.end = self.seams.clock.time()
        self._event("load-stopped")

    # -- marker --------------------------------------------------------------------------------
    def _recover_leftovers(self) -> CleanupReport | None:
        marker = self.seams.the_marker()
        inflight = marker.read()
        if inflight is None:
            return None
        if not owner_alive(inflight):
            log.warning("a crashed run left chaos in flight (%s); recovering it first", inflight.record_dir)
        return cleanup(marker, self.seams.testbed, clock=self.seams.clock.time)

    def _start_marker(self, state: RunState) -> None:
        state.marker = InFlight(
            this_process(), str(state.record.path), self.seams.testbed.location, self.seams.clock.time()
        )
        self.seams.the_marker().write(state.marker)

    def _update_marker(self, state: RunState, entry: InjectedChaos) -> None:
        if state.marker is None:
            return
        state.marker = state.marker.with_chaos(entry)
        self.seams.the_marker().write(state.marker)

    def _mark(self, state: RunState, item: Injected, phase: str) -> None:
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
            m = step.manifest
            if m.is_pod_chaos and max_count(m.mode, m.value, replicas) > limit:
                hit = max_count(m.mode, m.value, replicas)
                raise BlastRadiusError(
                    f"{m.source}: {m.mode} {m.value or ''} may hit {hit} of {replicas} pods, above the "
                    f"scope's limit of {math.floor(limit)} (maxPercent {self.experiment.scope.max_percent:g})"
                )

    def _event(self, kind: str, /, **detail: Any) -> None:
        state = self._state
        event = Event(self.seams.clock.time(), kind, detail)
        if state is not None:
            state.events.append(event)
            state.record.append_event(event)
        self.on_event(event)
