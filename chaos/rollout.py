"""Rollouts as chaos steps: the chaotic deployment and a model rollout, each undone by rolling back.

Besides Chaos Mesh manifests an experiment can change the service's own Deployment:

- `rollout: FILE` - a rolling update to the pod template of a Deployment manifest (the chaotic
  deployment, `k8s/chaotic-deployment.yaml`: in-app model chaos on), as `kubectl apply -f FILE` does;
- `modelRollout: {version: V}` - a rolling update that serves model version V (the container's
  `CHAOSLAB_MODEL_VERSION`), e.g. the deliberately bad `v3-bad`.

Recovery is the documented rollback, `kubectl rollout undo`: a rolling update back to the template
that ran before. Both follow the Deployment's RollingUpdate strategy, which must be the system
profile's (`service.strategy`): the testbed keeps that many surge slots and the simulator plays it.

What the new pods do differently is read from their container's literal environment values (values
from secrets or fields are left alone): the CHAOS_* variables of chaos.model_chaos and the model
version. `Rollout` offers the attributes the runner reads of any chaos step (kind, name, namespace,
action, duration, source, describe), so it travels where a ChaosManifest does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.documents import read_document
from chaos.errors import InvalidSpecError, Problem
from chaos.fields import Fields
from chaos.manifest import Selector
from chaos.model_chaos import (
    ENV_ENABLED,
    ENV_FAILURE_RATE,
    ENV_TYPE_RATES,
    ChaosConfig,
    ChaosConfigError,
    profile_config,
)
from chaos.system import ModelChaos, RolloutStrategy, SystemProfile

KIND = "Deployment"
ROLLOUT = "rollout"
MODEL_ROLLOUT = "model-rollout"
ENV_MODEL_VERSION = "CHAOSLAB_MODEL_VERSION"
"""The container variable that names the primary model version a pod serves (service/runtime.py)."""
_VERSION = r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}"
_CHAOS_ENV = (ENV_ENABLED, ENV_FAILURE_RATE, *ENV_TYPE_RATES.values())


@dataclass(frozen=True)
class Rollout:
    """A rolling update of the service's Deployment to a changed pod template, rolled back at recovery."""

    name: str
    namespace: str
    action: str  # ROLLOUT | MODEL_ROLLOUT
    env: tuple[tuple[str, str], ...]
    """The literal container environment the new template sets (sorted by name)."""
    strategy: RolloutStrategy
    selector: Selector
    source: str
    duration: float | None = None
    template: dict[str, Any] | None = None
    """The pod template of a Deployment file (None for a model rollout: the running template with
    the model version changed)."""
    container: str = ""
    kind: str = KIND
    document: dict[str, Any] = field(default_factory=dict)

    is_pod_chaos = False
    is_network_chaos = False

    @property
    def env_map(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def model_version(self) -> str | None:
        return self.env_map.get(ENV_MODEL_VERSION)

    def model_chaos(self, base: ModelChaos) -> ModelChaos:
        """The in-app model chaos the new pods run: `base` (the profile's) with the template's CHAOS_*."""
        config = profile_config(base, self.env_map)
        return ModelChaos(
            enabled=config.enabled,
            exception_rate=config.exception_rate,
            timeout_rate=config.timeout_rate,
            wrong_prediction_rate=config.wrong_prediction_rate,
            model_deadline=base.model_deadline,
        )

    def describe(self) -> str:
        what = f"{self.kind}/{self.name} {self.action}"
        changes = ", ".join(f"{k}={v}" for k, v in self.env)
        what += f" ({changes})" if changes else " (no environment change)"
        what += f" maxSurge={self.strategy.max_surge} maxUnavailable={self.strategy.max_unavailable}"
        if self.duration is not None:
            what += f" for {self.duration:g}s"
        return what


def load_rollout(path: Path, system: SystemProfile, duration: float | None) -> Rollout:
    """A rollout to the pod template of the Deployment manifest at `path`; InvalidSpecError lists
    every problem (wrong Deployment, a strategy other than the profile's, bad CHAOS_* values)."""
    problems: list[Problem] = []
    rollout = parse_deployment(read_document(path), str(path), system, duration, problems)
    if problems or rollout is None:
        raise InvalidSpecError(problems)
    return rollout


def parse_deployment(
    data: object, file: str, system: SystemProfile, duration: float | None, problems: list[Problem]
) -> Rollout | None:
    """Read only what a rollout needs; the rest of the Deployment is the cluster's to check."""
    service = system.service
    doc = Fields(data, file, "", problems)
    doc.text("apiVersion", choices=("apps/v1",))
    doc.text("kind", choices=(KIND,))
    meta = doc.section("metadata")
    name = meta.text("name", choices=(service.name,))
    namespace = meta.text("namespace", choices=(service.namespace,))
    spec = doc.section("spec")
    strategy = _file_strategy(spec.section("strategy"), service.strategy)
    selector = spec.section("selector").string_map("matchLabels")
    if selector != service.labels:
        spec.problem("selector.matchLabels", selector, f"must be the service's labels {service.labels}")
    template = spec.section("template")
    containers = list(template.section("spec").items("containers"))
    container: str = ""
    env: tuple[tuple[str, str], ...] = ()
    if len(containers) != 1:
        template.problem("spec.containers", len(containers), "must hold exactly one container (the service)")
    else:
        container = containers[0].text("name")
        env = _literal_env(containers[0])
        _check_env(containers[0], dict(env), system)
    if problems:
        return None
    raw_template = data["spec"]["template"] if isinstance(data, dict) else {}
    return Rollout(
        name=name,
        namespace=namespace,
        action=ROLLOUT,
        env=env,
        strategy=strategy,
        selector=Selector((namespace,), dict(service.labels)),
        source=file,
        duration=duration,
        template=raw_template,
        container=container,
        document=data if isinstance(data, dict) else {},
    )


def model_rollout(f: Fields, system: SystemProfile, source: str, duration: float | None) -> Rollout:
    """`modelRollout: {version: V}` of a chaos step: the running template serving model version V."""
    version = f.text("version", pattern=_VERSION)
    f.finish()
    known = system.model_quality.versions
    if version and version not in known:
        f.problem(
            "version",
            version,
            f"has no modelQuality.versions entry in {system.source or 'the system profile'} "
            f"(it names {sorted(known) or 'none'}); the simulator needs its wrong share",
        )
    service = system.service
    return Rollout(
        name=service.name,
        namespace=service.namespace,
        action=MODEL_ROLLOUT,
        env=((ENV_MODEL_VERSION, version),),
        strategy=service.strategy,
        selector=Selector((service.namespace,), dict(service.labels)),
        source=source,
        duration=duration,
        container=service.name,
    )


def _file_strategy(f: Fields, profile: RolloutStrategy) -> RolloutStrategy:
    f.text("type", choices=("RollingUpdate",))
    rolling = f.section("rollingUpdate")
    got = RolloutStrategy(
        str(rolling.data.get("maxSurge", "25%")), str(rolling.data.get("maxUnavailable", "25%"))
    )
    rolling.consume("maxSurge", "maxUnavailable")
    rolling.finish()
    f.finish()
    if got != profile:
        f.problem(
            "rollingUpdate",
            f"maxSurge {got.max_surge}, maxUnavailable {got.max_unavailable}",
            f"must match the system profile's service.strategy (maxSurge {profile.max_surge}, "
            f"maxUnavailable {profile.max_unavailable}): the testbed and the simulator roll out that way",
        )
    return got


def _literal_env(container: Fields) -> tuple[tuple[str, str], ...]:
    """The container's env entries with a literal `value` (valueFrom entries are the cluster's)."""
    env: dict[str, str] = {}
    for item in container.items("env", default=None):
        name = item.text("name")
        if "value" in item.data:
            value = item.data["value"]
            if not isinstance(value, str):
                item.problem("value", value, "must be a string (quote numbers and booleans)")
            else:
                env[name] = value
        item.consume("value", "valueFrom")
        item.finish()
    container.consume(*(k for k in container.data if k != "env"))
    return tuple(sorted(env.items()))


def _check_env(container: Fields, env: dict[str, str], system: SystemProfile) -> None:
    chaos = {k: v for k, v in env.items() if k in _CHAOS_ENV}
    if chaos:
        try:
            ChaosConfig.from_env(chaos)
        except ChaosConfigError as exc:
            container.problem("env", chaos, str(exc))
    version = env.get(ENV_MODEL_VERSION)
    if version is not None and (
        not re.fullmatch(_VERSION, version) or version not in system.model_quality.versions
    ):
        container.problem(
            "env",
            f"{ENV_MODEL_VERSION}={version}",
            "names no modelQuality.versions entry of the system profile",
        )


__all__ = ["ENV_MODEL_VERSION", "MODEL_ROLLOUT", "ROLLOUT", "Rollout", "load_rollout", "model_rollout"]
