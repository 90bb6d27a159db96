"""The local executor against a recording fake cluster and a fake clock: Chaos Mesh semantics."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import yaml

from chaos.manifest import ChaosManifest, load_manifest
from chaos.spec import load_experiment
from runner.executors.base import ChaosExistsError, ChaosNotFoundError
from runner.executors.local import (
    LocalExecutor,
    NetworkFaultSpec,
    PodRef,
    UnsupportedChaosError,
)

NS = "ml-services"
EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"
APP = {"app": "ml-prediction-service"}


@dataclass
class FakeTimer:
    at: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeClock:
    t: float = 0.0
    timers: list[FakeTimer] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(self.t + delay, callback)
        self.timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        self.t += seconds
        for timer in sorted(self.timers, key=lambda x: x.at):
            if timer.at <= self.t and not timer.cancelled:
                timer.cancelled = True
                timer.callback()


@dataclass
class FakeCluster:
    replicas: int = 10
    container: str = "ml-prediction-service"
    feature_store: PodRef = field(
        default_factory=lambda: PodRef("feature-store-0", NS, {"app": "feature-store"})
    )
    calls: list[tuple[str, ...]] = field(default_factory=list)
    faults: dict[str, NetworkFaultSpec] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def pods(self) -> list[PodRef]:
        return [PodRef(f"ml-prediction-service-abc-{i:02d}", NS, dict(APP)) for i in range(self.replicas)]

    def delete_pod(self, name: str, grace: float) -> None:
        self.calls.append(("delete", name, str(grace)))

    def inject_pod_failure(self, name: str) -> None:
        self.calls.append(("fail", name))

    def recover_pod_failure(self, name: str) -> None:
        self.calls.append(("recover", name))

    def kill_container(self, name: str, container: str) -> None:
        self.calls.append(("kill-container", name, container))

    def set_network_fault(self, fault: NetworkFaultSpec) -> None:
        self.faults[fault.name] = fault

    def clear_network_fault(self, name: str) -> None:
        del self.faults[name]

    def template_env(self) -> dict[str, str]:
        return dict(self.env)

    def roll(self, env: dict[str, str]) -> None:
        self.env = dict(env)
        self.calls.append(("roll", *sorted(f"{k}={v}" for k, v in env.items())))


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def executor(cluster: FakeCluster, clock: FakeClock) -> LocalExecutor:
    return LocalExecutor(cluster, clock, random.Random(3))


def manifest(tmp_path: Path, body: str, name: str = "m.yaml") -> ChaosManifest:
    path = tmp_path / name
    path.write_text(body)
    return load_manifest(path)


def pod_chaos(
    tmp_path: Path, action: str, mode: str, value: str | None = None, extra: str = ""
) -> ChaosManifest:
    value_line = f'  value: "{value}"\n' if value else ""
    return manifest(
        tmp_path,
        f"""apiVersion: chaos-mesh.org/v1alpha1
kind: PodChaos
metadata: {{name: test-{action}, namespace: chaos-testing}}
spec:
  action: {action}
  mode: {mode}
{value_line}{extra}  selector:
    namespaces: [{NS}]
    labelSelectors: {{app: ml-prediction-service}}
""",
    )


def test_pod_failure_fails_ceil_30_percent_for_its_duration_then_recovers(
    executor: LocalExecutor, cluster: FakeCluster, clock: FakeClock, experiments_dir: Path
) -> None:
    m = load_manifest(experiments_dir / "pod-failure.yaml")
    status = executor.apply(m)
    failed = [c[1] for c in cluster.calls if c[0] == "fail"]
    assert len(failed) == 3 == len(set(failed))
    assert status.conditions == {
        "Selected": True,
        "AllInjected": True,
        "AllRecovered": False,
        "Paused": False,
    }
    clock.advance(599.0)
    assert not any(c[0] == "recover" for c in cluster.calls)
    clock.advance(1.0)
    assert sorted(c[1] for c in cluster.calls if c[0] == "recover") == sorted(failed)
    assert status.conditions["AllRecovered"] and not status.conditions["AllInjected"]
    assert [r.recovered_count for r in status.records] == [1, 1, 1]
    assert status.to_json()["experiment"]["desiredPhase"] == "Stop"


def test_fixed_percent_rounds_up(executor: LocalExecutor, cluster: FakeCluster, tmp_path: Path) -> None:
    cluster.replicas = 3
    assert len(executor.plan(pod_chaos(tmp_path, "pod-failure", "fixed-percent", "30"))) == 1
    cluster.replicas = 4
    assert len(executor.plan(pod_chaos(tmp_path, "pod-failure", "fixed-percent", "30"))) == 2


@pytest.mark.parametrize(("mode", "value", "count"), [("one", None, 1), ("all", None, 10), ("fixed", "4", 4)])
def test_modes_pick_the_right_number_of_distinct_pods(
    executor: LocalExecutor, tmp_path: Path, mode: str, value: str | None, count: int
) -> None:
    chosen = executor.plan(pod_chaos(tmp_path, "pod-kill", mode, value))
    assert len(chosen) == len(set(chosen)) == count


def test_random_max_percent_never_exceeds_its_percentage(executor: LocalExecutor, tmp_path: Path) -> None:
    m = pod_chaos(tmp_path, "pod-kill", "random-max-percent", "40")
    counts = {len(executor.plan(m)) for _ in range(200)}
    assert counts <= {0, 1, 2, 3, 4} and len(counts) > 2


def test_pod_kill_deletes_half_the_pods_once_with_the_grace_period(
    executor: LocalExecutor, cluster: FakeCluster, experiments_dir: Path, clock: FakeClock
) -> None:
    status = executor.apply(load_manifest(experiments_dir / "pod-kill-50.yaml"))
    assert [c[0] for c in cluster.calls] == ["delete"] * 5
    assert all(c[2] == "0.0" for c in cluster.calls)
    assert status.conditions["AllInjected"]
    clock.advance(3600)
    assert status.conditions["AllInjected"]
    executor.recover("chaos-testing", "ml-service-pod-kill-50")
    assert [c[0] for c in cluster.calls] == ["delete"] * 5
    assert status.conditions["AllRecovered"]


def test_container_kill_targets_the_named_container(
    executor: LocalExecutor, cluster: FakeCluster, tmp_path: Path
) -> None:
    m = pod_chaos(tmp_path, "container-kill", "one", extra="  containerNames: [ml-prediction-service]\n")
    status = executor.apply(m)
    (victim,) = [r.id for r in status.records]
    assert victim in {p.name for p in cluster.pods()}
    assert cluster.calls == [("kill-container", victim, "ml-prediction-service")]
    wrong = pod_chaos(tmp_path, "container-kill", "one", extra="  containerNames: [sidecar]\n")
    with pytest.raises(UnsupportedChaosError, match=r"containerNames \['sidecar'\]"):
        executor.plan(wrong)


def test_network_delay_becomes_a_proxy_fault_until_recovered(
    executor: LocalExecutor, cluster: FakeCluster, experiments_dir: Path, clock: FakeClock
) -> None:
    status = executor.apply(load_manifest(experiments_dir / "network-latency.yaml"))
    fault = cluster.faults["chaos-testing.feature-store-latency"]
    assert (fault.latency, fault.jitter, fault.delay_correlation, fault.direction) == (0.5, 0.1, 0.25, "to")
    assert [r.id for r in status.records] == ["feature-store-0"]
    clock.advance(10)
    executor.recover("chaos-testing", "feature-store-latency")
    assert cluster.faults == {}
    assert status.conditions["AllRecovered"]
    clock.advance(600)
    assert status.records[0].recovered_count == 1


def test_feature_store_outage_is_total_loss_ended_by_its_duration(
    executor: LocalExecutor, cluster: FakeCluster, experiments_dir: Path, clock: FakeClock
) -> None:
    executor.apply(load_manifest(experiments_dir / "feature-store-outage.yaml"))
    assert cluster.faults["chaos-testing.feature-store-outage"].loss == 1.0
    clock.advance(300)
    assert cluster.faults == {}


def test_partition_black_holes_the_store(
    executor: LocalExecutor, cluster: FakeCluster, tmp_path: Path
) -> None:
    m = manifest(
        tmp_path,
        """apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata: {name: cut, namespace: chaos-testing}
spec:
  action: partition
  mode: all
  direction: both
  selector: {namespaces: [ml-services], labelSelectors: {app: feature-store}}
  target:
    mode: all
    selector: {namespaces: [ml-services], labelSelectors: {app: ml-prediction-service}}
""",
    )
    executor.apply(m)
    assert cluster.faults["chaos-testing.cut"].partition == "blackhole"
    assert cluster.faults["chaos-testing.cut"].direction == "both"


def test_a_target_that_covers_only_some_pods_is_refused(
    executor: LocalExecutor, cluster: FakeCluster, tmp_path: Path
) -> None:
    m = manifest(
        tmp_path,
        """apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata: {name: half, namespace: chaos-testing}
spec:
  action: delay
  mode: all
  delay: {latency: 100ms}
  selector: {namespaces: [ml-services], labelSelectors: {app: feature-store}}
  target:
    mode: fixed-percent
    value: "50"
    selector: {namespaces: [ml-services], labelSelectors: {app: ml-prediction-service}}
""",
    )
    with pytest.raises(UnsupportedChaosError, match="every prediction pod"):
        executor.apply(m)
    assert cluster.faults == {}


def test_selectors_the_testbed_cannot_serve_are_refused_before_anything_happens(
    executor: LocalExecutor, cluster: FakeCluster, tmp_path: Path
) -> None:
    net_on_pods = manifest(
        tmp_path,
        """apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata: {name: pods-slow, namespace: chaos-testing}
spec:
  action: delay
  mode: all
  delay: {latency: 100ms}
  selector: {namespaces: [ml-services], labelSelectors: {app: ml-prediction-service}}
""",
    )
    with pytest.raises(UnsupportedChaosError, match="only on the feature store"):
        executor.apply(net_on_pods)
    other_ns = pod_chaos(tmp_path, "pod-kill", "one").document
    other_ns["spec"]["selector"]["namespaces"] = ["payments"]
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(other_ns))
    with pytest.raises(UnsupportedChaosError, match=r"selects no pod of the testbed .*ml-services"):
        executor.apply(load_manifest(path))
    kill_store = manifest(
        tmp_path,
        """apiVersion: chaos-mesh.org/v1alpha1
kind: PodChaos
metadata: {name: kill-store, namespace: chaos-testing}
spec:
  action: pod-kill
  mode: one
  selector: {namespaces: [ml-services], labelSelectors: {app: feature-store}}
""",
    )
    with pytest.raises(UnsupportedChaosError, match="PodChaos on the feature store"):
        executor.apply(kill_store)
    assert cluster.calls == [] and cluster.faults == {}


def test_applying_twice_is_refused_until_recovered(
    executor: LocalExecutor, experiments_dir: Path, cluster: FakeCluster
) -> None:
    m = load_manifest(experiments_dir / "pod-failure.yaml")
    executor.apply(m)
    with pytest.raises(ChaosExistsError, match="chaos-testing/ml-service-pod-failure"):
        executor.apply(m)
    executor.recover("chaos-testing", "ml-service-pod-failure")
    executor.apply(m)
    assert len([c for c in cluster.calls if c[0] == "fail"]) == 6


def test_explicit_recovery_cancels_the_duration_timer(
    executor: LocalExecutor, cluster: FakeCluster, clock: FakeClock, experiments_dir: Path
) -> None:
    executor.apply(load_manifest(experiments_dir / "pod-failure.yaml"))
    clock.advance(5)
    executor.recover("chaos-testing", "ml-service-pod-failure")
    recovered = len([c for c in cluster.calls if c[0] == "recover"])
    clock.advance(1000)
    assert recovered == 3 == len([c for c in cluster.calls if c[0] == "recover"])
    (timer,) = clock.timers  # the duration's timer, cancelled by the recovery
    assert timer.cancelled and timer.at == 600.0


def test_unknown_objects_are_named(executor: LocalExecutor) -> None:
    with pytest.raises(ChaosNotFoundError, match="chaos-testing/nothing"):
        executor.recover("chaos-testing", "nothing")


# -- rollouts ----------------------------------------------------------------------------------------
def test_a_rollout_rolls_the_pods_to_its_environment_and_back_to_the_one_before(
    executor: LocalExecutor, cluster: FakeCluster, clock: FakeClock
) -> None:

    experiment = load_experiment(
        Path(__file__).resolve().parents[3] / "experiments" / "bad-model.experiment.yaml"
    )
    (step,) = experiment.chaos
    cluster.env = {"CHAOS_SEED": "1"}  # whatever ran before is what recovery restores
    assert executor.plan(step.manifest) == ["deployment/ml-prediction-service"]
    status = executor.apply(step.manifest)
    assert cluster.env == {"CHAOSLAB_MODEL_VERSION": "v3-bad"}
    assert status.kind == "Deployment" and status.action == "model-rollout" and status.active
    with pytest.raises(ChaosExistsError):
        executor.apply(step.manifest)
    executor.recover(status.namespace, status.name)
    assert cluster.env == {"CHAOS_SEED": "1"} and not status.active
    assert [c[0] for c in cluster.calls] == ["roll", "roll"]


def test_a_rollout_with_a_duration_rolls_back_by_itself(
    executor: LocalExecutor, cluster: FakeCluster, clock: FakeClock, tmp_path: Path
) -> None:

    from chaos.spec import load_experiment

    experiment = load_experiment(
        Path(__file__).resolve().parents[3] / "experiments" / "model-chaos.experiment.yaml"
    )
    rollout = replace(experiment.chaos[0].manifest, duration=30.0)
    status = executor.apply(rollout)
    assert cluster.env["CHAOS_ENABLED"] == "true"
    clock.advance(29.0)
    assert status.active
    clock.advance(1.0)
    assert not status.active and cluster.env == {}
