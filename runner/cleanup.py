"""Recovering chaos a run left on the testbed: what `chaoslab cleanup` and the next `run` do.

From the crash marker: each chaos object not marked recovered is undone the way deleting it would
(pod failures recovered, proxy faults cleared); one-shot actions (pod-kill, container-kill) have
nothing to undo. An entry caught while it was being injected has unknown targets, so every pod
failure (or every proxy fault) on the testbed is recovered for it. `sweep` recovers everything the
testbed has injected, marker or not. A crashed run's load (Locust runs in a process group of its own,
so it outlives the run) is stopped too. The crashed run's event log gets a `cleanup` event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chaos import processes
from chaos.errors import ChaosLabError
from chaos.record import EVENTS, Event, EventKind
from chaos.rollout import KIND as ROLLOUT_KIND
from runner.executors.base import SystemView
from runner.marker import ChaosState, InjectedChaos, Marker, RunInProgressError, owner_alive
from runner.record import append_event

log = logging.getLogger(__name__)


@dataclass
class CleanupReport:
    recovered_pods: list[str] = field(default_factory=list)
    cleared_faults: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    """Deployments rolled back to their original template (a rollout step left in place)."""
    deleted_objects: list[str] = field(default_factory=list)
    """Chaos objects deleted from a cluster (the Kubernetes backend)."""
    notes: list[str] = field(default_factory=list)
    marker: str | None = None
    """The record directory of the run whose marker was read, if any."""
    stopped_load: int | None = None
    """PID of the crashed run's load process group, when cleanup stopped it."""

    @property
    def touched(self) -> bool:
        return bool(self.recovered_pods or self.cleared_faults or self.deleted_objects or self.rolled_back)

    def describe(self) -> str:
        parts = []
        if self.recovered_pods:
            parts.append(f"recovered pod failure on {', '.join(self.recovered_pods)}")
        if self.cleared_faults:
            parts.append(f"cleared network fault(s) {', '.join(self.cleared_faults)}")
        if self.rolled_back:
            parts.append(f"rolled back {', '.join(self.rolled_back)}")
        if self.deleted_objects:
            parts.append(f"deleted {', '.join(self.deleted_objects)}")
        if self.stopped_load is not None:
            parts.append(f"stopped the crashed run's load (pid {self.stopped_load})")
        if not parts:
            parts.append("nothing was left injected")
        return "; ".join(parts)

    def to_json(self) -> dict[str, object]:
        return {
            "recovered_pods": self.recovered_pods,
            "cleared_faults": self.cleared_faults,
            "rolled_back": self.rolled_back,
            "deleted_objects": self.deleted_objects,
            "notes": self.notes,
            "marker": self.marker,
            "stopped_load": self.stopped_load,
        }


def recover_leftovers(chaos: tuple[InjectedChaos, ...], testbed: SystemView) -> CleanupReport:
    """Undo every entry of a marker that is not recovered yet."""
    report = CleanupReport()
    for entry in chaos:
        if entry.action == "pod-failure":
            _recover_pods(entry, testbed, report)
        elif entry.kind == "NetworkChaos":
            _clear_faults(entry, testbed, report)
        elif entry.kind == ROLLOUT_KIND:
            _roll_back(entry.key, testbed, report)
        else:
            report.notes.append(f"{entry.key}: {entry.action} is one-shot; nothing to undo")
    return report


def still_injected(chaos: tuple[InjectedChaos, ...], testbed: SystemView) -> list[str]:
    """What of `chaos` the testbed still has injected (read-only), as short descriptions."""
    found: list[str] = []
    failed = {p.name for p in testbed.pods() if p.failure_injected}
    faults = set(testbed.faults())
    for entry in chaos:
        if entry.action == "pod-failure":
            names = failed & set(entry.targets) if entry.state != ChaosState.INJECTING else failed
            found += [f"{entry.key}: pod {n} still has its failure injected" for n in sorted(names)]
        elif entry.kind == "NetworkChaos":
            names = faults & set(entry.faults) if entry.state != ChaosState.INJECTING else faults
            found += [f"{entry.key}: proxy fault {n} still in place" for n in sorted(names)]
        elif entry.kind == ROLLOUT_KIND:
            env = testbed.template_env()
            if env:
                found.append(f"{entry.key}: the rollout's template is still in place ({env})")
    return found


def sweep(testbed: SystemView, report: CleanupReport | None = None) -> CleanupReport:
    """Recover every pod failure and clear every proxy fault on the testbed."""
    report = report or CleanupReport()
    for pod in testbed.pods():
        if pod.failure_injected and pod.name not in report.recovered_pods:
            testbed.recover_pod_failure(pod.name)
            report.recovered_pods.append(pod.name)
    for name in testbed.faults():
        if name not in report.cleared_faults and testbed.clear_fault(name):
            report.cleared_faults.append(name)
    _roll_back("the service's deployment", testbed, report)
    return report


def _roll_back(what: str, testbed: SystemView, report: CleanupReport) -> None:
    if what not in report.rolled_back and testbed.template_env():
        testbed.roll_back()
        report.rolled_back.append(what)


def cleanup(
    marker: Marker, testbed: SystemView, sweep_all: bool = False, clock: Callable[[], float] = time.time
) -> CleanupReport:
    """Recover what the marker lists (and with `sweep_all` everything injected); remove the marker."""
    inflight = marker.read()
    if inflight is not None and owner_alive(inflight):
        raise RunInProgressError(
            f"a run (pid {inflight.owner.pid}, record {inflight.record_dir}) has chaos in flight on "
            f"{testbed.location}"
        )
    report = recover_leftovers(inflight.chaos, testbed) if inflight is not None else CleanupReport()
    if sweep_all:
        sweep(testbed, report)
    if inflight is not None:
        report.marker = inflight.record_dir
        if inflight.load is not None and processes.is_alive(inflight.load):
            processes.stop(inflight.load)
            report.stopped_load = inflight.load.pid
        events = Path(inflight.record_dir) / EVENTS
        if events.parent.is_dir():
            try:
                append_event(events, Event(clock(), EventKind.CLEANUP, {"report": report.to_json()}))
            except ChaosLabError as exc:
                report.notes.append(f"could not note the cleanup in {events}: {exc}")
        marker.remove()
    log.info("cleanup: %s", report.describe())
    return report


def _recover_pods(entry: InjectedChaos, testbed: SystemView, report: CleanupReport) -> None:
    pods = {p.name: p for p in testbed.pods()}
    known = entry.state == ChaosState.INJECTED
    names = entry.targets if known else tuple(sorted(n for n, p in pods.items() if p.failure_injected))
    for name in names:
        pod = pods.get(name)
        if pod is None:
            report.notes.append(f"{entry.key}: pod {name} no longer exists")
        elif pod.failure_injected and name not in report.recovered_pods:
            testbed.recover_pod_failure(name)
            report.recovered_pods.append(name)


def _clear_faults(entry: InjectedChaos, testbed: SystemView, report: CleanupReport) -> None:
    present = testbed.faults()
    names = entry.faults if entry.state == ChaosState.INJECTED else tuple(present)
    for name in names:
        if name in present and name not in report.cleared_faults and testbed.clear_fault(name):
            report.cleared_faults.append(name)
