"""Chaos Mesh manifests (PodChaos, NetworkChaos) as chaoslab reads them.

The files are the real thing (`kubectl apply -f` works on a cluster with Chaos Mesh); this module
gives them a typed model and a friendlier validation than the API server's, naming file, field and
value for every problem at once. Fields that Chaos Mesh accepts but chaoslab cannot honour on both
executors are refused explicitly rather than ignored. The CRD schemas stay the ground truth: tests
check every manifest against them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.documents import read_document
from chaos.errors import InvalidSpecError, Problem
from chaos.fields import Fields
from chaos.selection import MODES, check_mode

API_VERSION = "chaos-mesh.org/v1alpha1"
POD_ACTIONS = ("pod-kill", "pod-failure", "container-kill")
NETWORK_ACTIONS = ("delay", "loss", "partition")
DIRECTIONS = ("to", "from", "both")
_DNS1123 = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NETEM_TIME = r"[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)"
_PERCENT = r"[0-9]+(\.[0-9]+)?"


@dataclass(frozen=True)
class Selector:
    """Which pods: namespaces and labels that must all match."""

    namespaces: tuple[str, ...] = ()
    label_selectors: dict[str, str] = field(default_factory=dict)

    def matches(self, namespace: str, labels: dict[str, str]) -> bool:
        if self.namespaces and namespace not in self.namespaces:
            return False
        return all(labels.get(k) == v for k, v in self.label_selectors.items())

    def describe(self) -> str:
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.label_selectors.items()))
        return f"namespaces={list(self.namespaces)} labels={{{labels}}}"


@dataclass(frozen=True)
class Delay:
    latency: float
    jitter: float = 0.0
    correlation: float = 0.0


@dataclass(frozen=True)
class Loss:
    loss: float
    correlation: float = 0.0


@dataclass(frozen=True)
class Target:
    """NetworkChaos `target`: the other side of the affected traffic."""

    mode: str
    value: str | None
    selector: Selector


@dataclass(frozen=True)
class ChaosManifest:
    kind: str
    name: str
    namespace: str
    action: str
    mode: str
    value: str | None
    selector: Selector
    duration: float | None
    source: str
    document: dict[str, Any]
    grace_period: int = 0
    container_names: tuple[str, ...] = ()
    direction: str = "to"
    delay: Delay | None = None
    loss: Loss | None = None
    target: Target | None = None

    @property
    def is_pod_chaos(self) -> bool:
        return self.kind == "PodChaos"

    @property
    def is_network_chaos(self) -> bool:
        return self.kind == "NetworkChaos"

    def describe(self) -> str:
        what = f"{self.kind}/{self.name} {self.action} mode={self.mode}"
        if self.value is not None:
            what += f" value={self.value}"
        if self.delay:
            what += f" latency={self.delay.latency * 1000:g}ms jitter={self.delay.jitter * 1000:g}ms"
        if self.loss:
            what += f" loss={self.loss.loss:.0%}"
        if self.duration is not None:
            what += f" for {self.duration:g}s"
        return what


def load_manifest(path: Path) -> ChaosManifest:
    """Read and validate one Chaos Mesh manifest; raises InvalidSpecError with every problem."""
    problems: list[Problem] = []
    manifest = parse_manifest(read_document(path), str(path), problems)
    if problems or manifest is None:
        raise InvalidSpecError(problems)
    return manifest


def parse_manifest(data: object, file: str, problems: list[Problem]) -> ChaosManifest | None:
    doc = Fields(data, file, "", problems)
    doc.text("apiVersion", choices=(API_VERSION,))
    kind = doc.text("kind", choices=("PodChaos", "NetworkChaos"))
    meta = doc.section("metadata")
    name = meta.text("name", pattern=_DNS1123)
    namespace = meta.text("namespace", pattern=_DNS1123)
    meta.string_map("labels", default=None)
    meta.string_map("annotations", default=None)
    meta.finish()
    spec = doc.section("spec")
    manifest: ChaosManifest | None = None
    if kind in ("PodChaos", "NetworkChaos"):
        pod = kind == "PodChaos"
        action = spec.text("action", choices=POD_ACTIONS if pod else NETWORK_ACTIONS)
        mode, value = _mode_and_value(spec)
        manifest = ChaosManifest(
            kind=kind,
            name=name,
            namespace=namespace,
            action=action,
            mode=mode,
            value=value,
            selector=parse_selector(spec.section("selector")),
            duration=spec.duration("duration", positive=True) if spec.has("duration") else None,
            source=file,
            document=data if isinstance(data, dict) else {},
            **(_pod_fields(spec, action) if pod else _network_fields(spec, action)),
        )
    spec.finish()
    doc.finish()
    return manifest


def _mode_and_value(f: Fields) -> tuple[str, str | None]:
    """`mode` and `value`, checked together as the controller checks them."""
    mode = f.text("mode", choices=MODES)
    value = f.text("value", default=None) or None
    problem = check_mode(mode, value) if mode in MODES else None
    if problem:
        f.problem("value", value, problem)
    return mode, value


def _pod_fields(spec: Fields, action: str) -> dict[str, Any]:
    """What PodChaos adds to the common fields."""
    containers = tuple(spec.strings("containerNames", default=None))
    if action == "container-kill" and not containers:
        spec.problem("containerNames", None, "is required for action container-kill")
    return {
        "grace_period": spec.integer("gracePeriod", default=0, minimum=0),
        "container_names": containers,
    }


def _network_fields(spec: Fields, action: str) -> dict[str, Any]:
    """What NetworkChaos adds to the common fields."""
    delay = _delay(spec.section("delay")) if spec.has("delay") else None
    loss = _loss(spec.section("loss")) if spec.has("loss") else None
    if action == "delay" and delay is None:
        spec.problem("delay", None, "is required for action delay")
    if action == "loss" and loss is None:
        spec.problem("loss", None, "is required for action loss")
    if action == "partition" and (delay or loss):
        spec.problem("action", action, "partition takes no delay or loss settings")
    return {
        "direction": spec.text("direction", default="to", choices=DIRECTIONS),
        "delay": delay,
        "loss": loss,
        "target": _target(spec.section("target")) if spec.has("target") else None,
    }


def parse_selector(f: Fields) -> Selector:
    selector = Selector(
        namespaces=tuple(f.strings("namespaces", default=None)),
        label_selectors=f.string_map("labelSelectors", default=None),
    )
    f.finish()
    if not selector.namespaces and not selector.label_selectors:
        f.problem("", {}, "must name namespaces or labelSelectors (an empty selector hits every pod)")
    return selector


def _delay(f: Fields) -> Delay:
    latency = _netem_time(f, "latency", required=True)
    jitter = _netem_time(f, "jitter", required=False)
    correlation = _percent(f, "correlation")
    f.finish()
    return Delay(latency, jitter, correlation)


def _loss(f: Fields) -> Loss:
    loss = _percent(f, "loss", required=True)
    correlation = _percent(f, "correlation")
    f.finish()
    return Loss(loss, correlation)


def _target(f: Fields) -> Target:
    mode, value = _mode_and_value(f)
    target = Target(mode, value, parse_selector(f.section("selector")))
    f.finish()
    return target


def _netem_time(f: Fields, key: str, required: bool) -> float:
    if not required and not f.has(key):
        return 0.0
    text = f.text(key, pattern=_NETEM_TIME)
    if not re.fullmatch(_NETEM_TIME, text):
        return 0.0
    return f.duration(key)


def _percent(f: Fields, key: str, required: bool = False) -> float:
    """netem percentages are strings such as "25" (percent); returned as a fraction."""
    text = f.text(key) if required else f.text(key, default=None)
    if not text:
        return 0.0
    if not re.fullmatch(_PERCENT, text) or float(text) > 100:
        f.problem(key, text, 'must be a percentage string from "0" to "100"')
        return 0.0
    return float(text) / 100
