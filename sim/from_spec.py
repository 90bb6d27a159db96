"""From an experiment spec to the simulator's scenario: the faults its manifests inject, when."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chaos.errors import SimulationError
from chaos.manifest import ChaosManifest
from chaos.rollout import Rollout
from chaos.spec import ChaosStep, Experiment
from chaos.system import SystemProfile
from sim.scenario import InvalidScenarioError, Phase, PodFault, RolloutFault, Scenario, StoreFault, Template


def scenario_from_experiment(experiment: Experiment) -> Scenario:
    """The phases, load and faults of `experiment`, in seconds from the start of the run; each fault
    acts `faultTiming.applyDelay` after its step's start and stops `removeDelay` after the phase end.

    A value the simulator cannot play (a valid spec may still hold one, such as a loss of "0") is an
    InvalidScenarioError that names the file it came from."""
    bounds = experiment.phases.bounds()
    chaos_start, chaos_end = bounds["chaos"]
    pod_faults: list[PodFault] = []
    store_faults: list[StoreFault] = []
    rollouts: list[RolloutFault] = []
    timing = experiment.system.fault_timing
    for step in experiment.chaos:
        manifest = step.manifest
        start = chaos_start + step.after + timing.apply_delay
        remove = timing.remove_delay_of(manifest.action)  # a rollout's is never listed: removeDelay
        duration = _duration(step, start, chaos_end + remove)
        with _naming(manifest.source):
            if isinstance(manifest, Rollout):
                rollouts.append(RolloutFault(start, _template(manifest, experiment.system), duration))
            elif manifest.is_pod_chaos:
                _require_service_pods(manifest, experiment.system)
                pod_faults.append(PodFault(manifest.action, start, duration, manifest.mode, manifest.value))
            else:
                store_faults.append(_store_fault(manifest, experiment.system, start, duration))
    with _naming(str(experiment.source)):
        return Scenario(
            phases=tuple(Phase(name, start, end) for name, (start, end) in bounds.items()),
            pod_faults=tuple(pod_faults),
            store_faults=tuple(store_faults),
            load=experiment.load,
            model_chaos=experiment.system.model_chaos.enabled,
            rollouts=tuple(rollouts),
            tooling_lag=timing.apply_delay,
        )


def _template(rollout: Rollout, system: SystemProfile) -> Template:
    """What the rolled-out pods do: their model chaos (from the template's CHAOS_* values) and version."""
    chaos = rollout.model_chaos(system.model_chaos)
    return Template(chaos if chaos != system.model_chaos else None, rollout.model_version)


@contextmanager
def _naming(file: str) -> Iterator[None]:
    """Prefix an InvalidScenarioError raised inside with the file whose values caused it."""
    try:
        yield
    except InvalidScenarioError as exc:
        raise InvalidScenarioError(f"{file}: {exc}") from exc


def _duration(step: ChaosStep, start: float, deleted: float) -> float:
    """How long a fault acting from `start` lasts: its `duration`, unless the runner's deletion at
    the end of the chaos phase (acting at `deleted`) comes first; without one, until then."""
    duration = step.manifest.duration
    return deleted - start if duration is None else min(duration, deleted - start)


def _selects(manifest: ChaosManifest, labels: dict[str, str], namespace: str, target: bool = False) -> bool:
    selector = manifest.target.selector if target and manifest.target else manifest.selector
    return selector.matches(namespace, labels) and bool(selector.label_selectors)


def _require_service_pods(manifest: ChaosManifest, system: SystemProfile) -> None:
    service = system.service
    if not _selects(manifest, service.labels, service.namespace):
        raise SimulationError(
            f"{manifest.source}: spec.selector {manifest.selector.describe()} does not select the service "
            f"pods ({service.namespace}, {service.labels}); the simulator models PodChaos on them only"
        )


def _store_fault(manifest: ChaosManifest, system: SystemProfile, start: float, duration: float) -> StoreFault:
    store, service = system.feature_store, system.service
    on_store = _selects(manifest, store.labels, service.namespace)
    towards_store = _selects(manifest, service.labels, service.namespace) and _selects(
        manifest, store.labels, service.namespace, target=True
    )
    if not (on_store or towards_store):
        raise SimulationError(
            f"{manifest.source}: spec.selector {manifest.selector.describe()} selects neither the feature "
            f"store ({store.labels}) nor the service pods with the feature store as target; the simulator "
            "models NetworkChaos on the feature-store path only"
        )
    if manifest.action == "delay" and manifest.delay is not None:
        d = manifest.delay
        return StoreFault(
            "delay", start, duration, latency=d.latency, jitter=d.jitter, correlation=d.correlation
        )
    if manifest.action == "loss" and manifest.loss is not None:
        return StoreFault(
            "loss", start, duration, loss=manifest.loss.loss, correlation=manifest.loss.correlation
        )
    return StoreFault("partition", start, duration)
