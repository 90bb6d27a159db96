"""Small fakes of the runner's seams, around one tiny simulated world.

The world has pods (ready or not, failure injected or not) and proxy faults. The real LocalExecutor
acts on it through a fake `Cluster`; the fake load sends `rate` requests per second round robin over
the pods, and a request fails when its pod is not ready (or, with `flaky`, every n-th request).
One FakeClock drives everything: the runner's sleeps advance it and fire the executor's timers and
any scheduled hook, so a 30-second run takes milliseconds and every time is exact.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from analysis.signals import BREAKER_OPENED, BREAKERS_NOT_CLOSED, HOST_CPU
from chaos.errors import ChaosLabError
from chaos.spec import Experiment, load_experiment
from load import Record, read_records
from load._records import RecordWriter
from runner.executors.base import PodState
from runner.executors.local import LocalExecutor, NetworkFaultSpec, PodRef
from runner.prometheus import Target
from runner.seams import Seams

ROOT = Path(__file__).resolve().parents[2]
START = 1_700_000_000.0
LOAD_DELAY = 0.5
NAMESPACE = "ml-services"
LABELS = {"app": "ml-prediction-service"}


# -- time -------------------------------------------------------------------------------------
@dataclass
class _Timer:
    clock: FakeClock
    due: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Unix time that moves only when someone sleeps; also the executor's clock (now, call_later)."""

    def __init__(self, start: float = START) -> None:
        self.t = start
        self._timers: list[tuple[float, int, _Timer]] = []
        self._order = itertools.count()
        self.slept = 0.0
        self.watchers: list[Callable[[float], None]] = []
        """Called with a time before the clock moves to it (the fake load sends what is due)."""

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.advance_to(self.t + seconds)
        self.slept += seconds

    def advance_to(self, until: float) -> None:
        while self._timers and self._timers[0][0] <= until:
            due, _, timer = heapq.heappop(self._timers)
            self._move(due)
            if not timer.cancelled:
                timer.callback()
        self._move(until)

    def _move(self, when: float) -> None:
        for watcher in self.watchers:
            watcher(when)
        self.t = max(self.t, when)

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(self, self.t + delay, callback)
        heapq.heappush(self._timers, (timer.due, next(self._order), timer))
        return timer

    def at(self, when: float, callback: Callable[[], None]) -> None:
        """Run `callback` once the clock reaches `when`."""
        self.call_later(max(0.0, when - self.t), callback)


# -- the world ----------------------------------------------------------------------------------
@dataclass
class Pod:
    name: str
    ready: bool = True
    failure_injected: bool = False


@dataclass
class World:
    """Pods and faults, with a log of every change made to them."""

    clock: FakeClock
    pods: list[Pod] = field(default_factory=lambda: [Pod(f"pod-{i}") for i in range(3)])
    faults: dict[str, NetworkFaultSpec] = field(default_factory=dict)
    changes: list[tuple[float, str, str]] = field(default_factory=list)
    ready_log: list[tuple[float, int]] = field(default_factory=list)
    refuse_recovery: int = 0
    """How many pod-failure recoveries the world refuses (the testbed answering with an error)."""
    down_from: float | None = None
    """From this unix time on, asking for pods fails (the testbed stops answering)."""
    env: dict[str, str] = field(default_factory=dict)
    """The container environment a rollout put on the pod template ({}: the original)."""

    def pod(self, name: str) -> Pod:
        return next(p for p in self.pods if p.name == name)

    def note(self, what: str, target: str) -> None:
        self.changes.append((self.clock.t, what, target))
        self.ready_log.append((self.clock.t, sum(p.ready for p in self.pods)))


class FakeCluster:
    """runner.executors.local.Cluster over the world."""

    container = "ml-prediction-service"

    def __init__(self, world: World) -> None:
        self.world = world
        self.feature_store = PodRef("feature-store-0", NAMESPACE, {"app": "feature-store"})

    def pods(self) -> list[PodRef]:
        return [PodRef(p.name, NAMESPACE, dict(LABELS)) for p in self.world.pods]

    def delete_pod(self, name: str, grace: float) -> None:
        index = self.world.pods.index(self.world.pod(name))
        self.world.pods[index] = Pod(f"{name}-new", ready=False)
        self.world.note("delete", name)

    def inject_pod_failure(self, name: str) -> None:
        pod = self.world.pod(name)
        pod.ready, pod.failure_injected = False, True
        self.world.note("inject-pod-failure", name)

    def recover_pod_failure(self, name: str) -> None:
        if self.world.refuse_recovery > 0:
            self.world.refuse_recovery -= 1
            raise ChaosLabError(f"the testbed refused to recover {name}")
        pod = self.world.pod(name)
        pod.ready, pod.failure_injected = True, False
        self.world.note("recover-pod-failure", name)

    def kill_container(self, name: str, container: str) -> None:
        self.world.note("kill-container", name)

    def set_network_fault(self, fault: NetworkFaultSpec) -> None:
        self.world.faults[fault.name] = fault
        self.world.note("set-fault", fault.name)

    def clear_network_fault(self, name: str) -> None:
        self.world.faults.pop(name, None)
        self.world.note("clear-fault", name)

    def template_env(self) -> dict[str, str]:
        return dict(self.world.env)

    def roll(self, env: dict[str, str]) -> None:
        self.world.env = dict(env)
        self.world.note("roll", ",".join(f"{k}={v}" for k, v in sorted(env.items())))


class FakeTestbed:
    """runner.executors.testbed.TestbedView over the world."""

    service_url = "http://127.0.0.1:1"
    prometheus_url = "http://127.0.0.1:2"

    def __init__(self, world: World, location: Path, desired: int | None = None) -> None:
        self.world = world
        self.location = str(location)
        self._desired = desired
        self.state = "running"
        self.rules = ["MLServicePodsUnavailable", "MLServiceHighErrorRate"]

    def phase(self) -> str:
        return self.state

    def pods(self) -> list[PodState]:
        down = self.world.down_from
        if down is not None and self.world.clock.t >= down:
            raise ChaosLabError("the testbed stopped answering")
        return [PodState(p.name, p.ready, p.failure_injected) for p in self.world.pods]

    def desired(self) -> int:
        return self._desired if self._desired is not None else len(self.world.pods)

    def alert_names(self) -> list[str]:
        return list(self.rules)

    def faults(self) -> list[str]:
        return sorted(self.world.faults)

    def recover_pod_failure(self, name: str) -> None:
        FakeCluster(self.world).recover_pod_failure(name)

    def clear_fault(self, name: str) -> bool:
        if name not in self.world.faults:
            return False
        FakeCluster(self.world).clear_network_fault(name)
        return True

    def template_env(self) -> dict[str, str]:
        return dict(self.world.env)

    def roll_back(self) -> None:
        FakeCluster(self.world).roll({})


# -- load -----------------------------------------------------------------------------------------
class FakeLoad:
    """LoadHandle: `rate` requests per second from `origin` for the plan's total, round robin. Its
    complete record is written into the record folder in the load's own format and read back from
    there, as LoadRun's is."""

    def __init__(
        self,
        world: World,
        origin: float,
        total: float,
        settle: float,
        rate: float = 10.0,
        flaky: int = 0,
        folder: Path | None = None,
    ) -> None:
        self.world, self.origin, self.total, self.settle = world, origin, total, settle
        self.folder = folder
        self.rate, self.flaky = rate, flaky
        self.made: list[Record] = []
        self._released = 0
        self.stopped = False
        world.clock.watchers.append(self._make)

    @property
    def clock(self) -> FakeClock:
        return self.world.clock

    @property
    def running(self) -> bool:
        return not self.stopped and self.clock.t < self.origin + self.total

    def _make(self, until: float) -> None:
        """The requests sent before `until`, judged against the world as it is (the clock calls this
        before it moves, so each request meets the world of its own moment)."""
        if self.stopped:
            return
        end = min(until, self.origin + self.total)
        first = len(self.made)
        last = math.floor((end - self.origin) * self.rate)
        for k in range(first, last):
            t = self.origin + k / self.rate
            pods = self.world.pods
            pod = pods[k % len(pods)]
            failed = not pod.ready or (self.flaky and k % self.flaky == 0)
            self.made.append(
                Record(
                    time=t,
                    latency=0.2 if failed else 0.01 + 0.001 * (k % 10),
                    outcome="error" if failed else "ok",
                    status=503 if failed else 200,
                    error_kind="http_503" if failed else "",
                    degraded=False,
                    fallback=False,
                    feature_source="" if failed else "store",
                    correct=None if failed else True,
                    phase="",
                )
            )

    def wait_started(self, timeout: float) -> float:
        return self.origin

    def tail(self) -> list[Record]:
        self._make(self.clock.t)
        cut = self.clock.t - self.settle
        out = []
        while self._released < len(self.made) and self.made[self._released].time <= cut:
            out.append(self.made[self._released])
            self._released += 1
        return out

    def wait(self, timeout: float) -> int:
        self.clock.advance_to(self.origin + self.total)
        return 0

    def stop(self) -> list[Record]:
        self._make(self.clock.t)
        self.stopped = True
        out = self.made[self._released :]
        self._released = len(self.made)
        return out

    def records(self) -> list[Record]:
        if self.folder is None:
            return list(self.made)
        part = self.folder / "requests-fake-1.csv"
        if not part.exists():
            writer = RecordWriter(part)
            for record in self.made:
                writer.write(record)
            writer.close()
        return read_records(self.folder)


class LoadStarter:
    def __init__(self, world: World, rate: float = 10.0, flaky: int = 0) -> None:
        self.world, self.rate, self.flaky = world, rate, flaky
        self.started: list[FakeLoad] = []

    def __call__(self, folder: Path, experiment: Experiment, settle: float) -> FakeLoad:
        folder.mkdir(parents=True, exist_ok=True)
        origin = self.world.clock.t + LOAD_DELAY
        load = FakeLoad(self.world, origin, experiment.phases.total, settle, self.rate, self.flaky, folder)
        self.started.append(load)
        return load


# -- Prometheus -----------------------------------------------------------------------------------
BREAKER_LAG = 1.0


class FakePrometheus:
    """Up, every target up; ALERTS fires MLServicePodsUnavailable while the world had a pod not ready;
    every pod's breaker is open from a second after a network fault was set until a second after it
    was cleared; the machine's CPU is 60 % idle and 1 % stolen throughout."""

    url = "http://127.0.0.1:2"

    def __init__(self, world: World) -> None:
        self.world = world
        self.queries: list[tuple[str, float, float]] = []
        self.up = True

    def is_up(self) -> bool:
        return self.up

    def targets(self) -> list[Target]:
        return [Target("ml-prediction-service", f"127.0.0.1:{9000 + i}", "up") for i in range(3)]

    def rules_loaded(self) -> int:
        return 6

    def rule_interval(self, groups: Sequence[str]) -> float | None:
        return 1.0

    def query_range(self, query: str, start: float, end: float, step: float = 1.0) -> list[dict[str, Any]]:
        self.queries.append((query, start, end))
        if query.startswith("ALERTS"):
            values = [[t, "1"] for t in _seconds(start, end) if self._ready_at(t) < len(self.world.pods)]
            metric = {"alertname": "MLServicePodsUnavailable", "alertstate": "firing"}
            return [{"metric": metric, "values": values}] if values else []
        if query == BREAKER_OPENED:  # each pod's gauge: when its breaker last opened
            openings = [when + BREAKER_LAG for when, what, _ in self.world.changes if what == "set-fault"]
            values = [[t, str(max(o for o in openings if o <= t))] for t in _seconds(start, end)
                      if any(o <= t for o in openings)]  # fmt: skip
            return [{"metric": {"pod": p.name}, "values": values} for p in self.world.pods] if values else []
        if query == BREAKERS_NOT_CLOSED:
            open_at = [[t, "1"] for t in _seconds(start, end) if self._breakers_open(t)]
            return (
                [{"metric": {"pod": p.name}, "values": open_at} for p in self.world.pods] if open_at else []
            )
        if query == HOST_CPU:  # one node, 60 % idle, 1 % stolen
            modes = {"idle": "0.6", "steal": "0.01"}
            return [
                {
                    "metric": {"instance": "node:9100", "mode": m},
                    "values": [[t, v] for t in _seconds(start, end)],
                }
                for m, v in modes.items()
            ]
        return [{"metric": {}, "values": [[t, "1"] for t in _seconds(start, end)]}]

    def _breakers_open(self, t: float) -> bool:
        faults = 0
        for when, what, _ in self.world.changes:
            if when + BREAKER_LAG <= t:
                faults += {"set-fault": 1, "clear-fault": -1}.get(what, 0)
        return faults > 0

    def _ready_at(self, t: float) -> int:
        ready = len(self.world.pods)
        for when, count in self.world.ready_log:
            if when <= t:
                ready = count
        return ready


def _seconds(start: float, end: float) -> list[float]:
    return [float(t) for t in range(math.ceil(start), math.floor(end) + 1)]


# -- experiments ----------------------------------------------------------------------------------
def write_experiment(
    folder: Path,
    *,
    phases: tuple[str, str, str] = ("10s", "10s", "10s"),
    manifest: dict[str, Any] | None = None,
    after: str = "0s",
    criteria: list[dict[str, Any]] | None = None,
    aborts: list[dict[str, Any]] | None = None,
    max_percent: float = 50,
) -> Experiment:
    """A 3-pod experiment with a one-pod pod-failure, written as files and loaded for real."""
    folder.mkdir(parents=True, exist_ok=True)
    profile = yaml.safe_load((ROOT / "experiments" / "system.yaml").read_text())
    profile["spec"]["service"]["replicas"] = 3
    profile["spec"]["load"] = {"rps": 10, "users": 2, "arrival": "closed"}
    (folder / "system.yaml").write_text(yaml.safe_dump(profile))
    chaos = manifest or {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "PodChaos",
        "metadata": {"name": "fail-one", "namespace": "chaos-testing"},
        "spec": {
            "action": "pod-failure",
            "mode": "one",
            "selector": {"namespaces": [NAMESPACE], "labelSelectors": dict(LABELS)},
        },
    }
    (folder / "chaos.yaml").write_text(yaml.safe_dump(chaos))
    baseline, chaos_phase, recovery = phases
    spec = {
        "apiVersion": "chaoslab.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "fake-pod-failure"},
        "spec": {
            "system": "system.yaml",
            "hypothesis": {
                "statement": "One pod fails; the service keeps {availability} % available.",
                "blanks": {"availability": {"metric": "availability", "phase": "chaos", "unit": "percent"}},
            },
            "scope": {
                "environment": "testbed",
                "namespace": NAMESPACE,
                "selector": dict(LABELS),
                "blastRadius": {"maxPercent": max_percent},
            },
            "chaos": [{"manifest": "chaos.yaml", "after": after}],
            "phases": {"baseline": baseline, "chaos": chaos_phase, "recovery": recovery},
            "successCriteria": criteria
            if criteria is not None
            else [
                {"name": "available", "metric": "availability", "phase": "baseline", "above": "95%"},
                {"name": "alert fires", "alertsFire": ["MLServicePodsUnavailable"]},
                {"name": "pods back", "podsReady": {"within": "5s"}},
                {"name": "hands off", "noManualIntervention": True},
            ],
            "abortConditions": aborts or [],
            "metrics": [{"name": "request_rate", "query": "sum(rate(mlservice_requests_total[30s]))"}],
            "rollback": {"strategy": "always", "steps": ["delete the PodChaos"]},
        },
    }
    path = folder / "fake.experiment.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_experiment(path)


@dataclass
class Bench:
    """A world with every seam around it, ready for a Runner."""

    clock: FakeClock
    world: World
    cluster: FakeCluster
    executor: LocalExecutor
    testbed: FakeTestbed
    load: LoadStarter
    prometheus: FakePrometheus
    seams: Seams
    runs: Path


def bench(tmp_path: Path, rate: float = 10.0, flaky: int = 0, predictor: Any = None) -> Bench:
    clock = FakeClock()
    world = World(clock)
    cluster = FakeCluster(world)
    executor = LocalExecutor(cluster, clock, random.Random(1))
    testbed_dir = tmp_path / "testbed"
    testbed_dir.mkdir(parents=True, exist_ok=True)
    testbed = FakeTestbed(world, testbed_dir)
    load = LoadStarter(world, rate, flaky)
    prometheus = FakePrometheus(world)
    seams = Seams(clock, executor, load, prometheus, testbed, predictor)
    return Bench(clock, world, cluster, executor, testbed, load, prometheus, seams, tmp_path / "runs")
