"""What a testbed is started with: the system profile, overrides from flags, and the ports chosen.

The plan is written by `testbed up` into the run directory and read by the testbed's daemon, so
both sides agree on every port and setting; it is also what clients read to find the testbed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.system import SystemProfile, load_system_profile

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROFILE = Path("experiments/system.yaml")
DEFAULT_RULES = Path("k8s/alert-rules.yaml")
SCRAPE_INTERVAL = 1.0
"""Prometheus scrape and rule evaluation interval: short enough for minute-scale experiments."""


@dataclass(frozen=True)
class Overrides:
    """Flags that change the profile for this testbed only (None = keep the profile's value)."""

    replicas: int | None = None
    concurrency: int | None = None
    """Model slots per pod (requests in service at once)."""
    probe_period: float | None = None
    probe_failure_threshold: int | None = None
    probe_success_threshold: int | None = None
    schedule_delay: float | None = None
    startup_time: float | None = None
    restart_backoff: float | None = None
    alert_for: float | None = None
    """Replace every alert rule's `for:` with this many seconds (short experiments and tests)."""

    def apply(self, profile: SystemProfile) -> SystemProfile:
        service, readiness, lifecycle = profile.service, profile.readiness, profile.lifecycle
        if self.replicas is not None:
            service = dataclasses.replace(service, replicas=self.replicas)
        if self.concurrency is not None:
            service = dataclasses.replace(service, concurrency=self.concurrency)
        readiness = dataclasses.replace(
            readiness,
            period=_pick(self.probe_period, readiness.period),
            failure_threshold=_pick(self.probe_failure_threshold, readiness.failure_threshold),
            success_threshold=_pick(self.probe_success_threshold, readiness.success_threshold),
        )
        lifecycle = dataclasses.replace(
            lifecycle,
            schedule_delay=_pick(self.schedule_delay, lifecycle.schedule_delay),
            startup_time=_pick(self.startup_time, lifecycle.startup_time),
            restart_backoff=_pick(self.restart_backoff, lifecycle.restart_backoff),
            restart_backoff_max=max(
                lifecycle.restart_backoff_max, _pick(self.restart_backoff, lifecycle.restart_backoff)
            ),
        )
        return dataclasses.replace(profile, service=service, readiness=readiness, lifecycle=lifecycle)


FIXED_PORTS = 8
"""Ports every testbed has besides its pod slots (the fields of Ports before `pods`)."""


@dataclass(frozen=True)
class Ports:
    service: int
    """HAProxy's frontend: the Service's address."""
    haproxy_metrics: int
    """HAProxy's stats page and Prometheus exporter."""
    redis: int
    proxy: int
    """The fault proxy in front of Redis: what the pods use as the feature store."""
    proxy_control: int
    supervisor: int
    prometheus: int
    node_exporter: int
    """Prometheus' node exporter: the machine's CPU (busy, idle, stolen by the hypervisor)."""
    pods: tuple[int, ...]
    surge: tuple[int, ...] = ()
    """Slots for a rolling update's surge pods (service.strategy.maxSurge), empty otherwise."""

    @classmethod
    def from_list(cls, ports: list[int], replicas: int, surge: int = 0) -> Ports:
        fixed = FIXED_PORTS
        if len(ports) != fixed + replicas + surge:
            raise ValueError(
                f"ports={len(ports)} must be {fixed + replicas + surge} "
                f"for {replicas} replicas and {surge} surge slots"
            )
        service, metrics, redis, proxy, control, supervisor, prometheus, node = ports[:fixed]
        pods, extra = tuple(ports[fixed : fixed + replicas]), tuple(ports[fixed + replicas :])
        return cls(service, metrics, redis, proxy, control, supervisor, prometheus, node, pods, extra)

    @property
    def slots(self) -> tuple[int, ...]:
        """Every pod slot's port: the replicas' and the surge slots'."""
        return self.pods + self.surge

    @property
    def all(self) -> tuple[int, ...]:
        return (
            self.service,
            self.haproxy_metrics,
            self.redis,
            self.proxy,
            self.proxy_control,
            self.supervisor,
            self.prometheus,
            self.node_exporter,
            *self.pods,
            *self.surge,
        )


@dataclass(frozen=True)
class Plan:
    profile_path: Path
    ports: Ports
    overrides: Overrides = field(default_factory=Overrides)
    host: str = "127.0.0.1"
    artifacts: Path | None = None
    rules_path: Path | None = None
    seed: int = 0
    binaries: dict[str, str] = field(default_factory=dict)

    def profile(self) -> SystemProfile:
        return self.overrides.apply(load_system_profile(self.profile_path))

    def url(self, port: int, path: str = "") -> str:
        return f"http://{self.host}:{port}{path}"

    def to_json(self) -> dict[str, Any]:
        return {
            "profile_path": str(self.profile_path),
            "ports": dataclasses.asdict(self.ports),
            "overrides": dataclasses.asdict(self.overrides),
            "host": self.host,
            "artifacts": str(self.artifacts) if self.artifacts else None,
            "rules_path": str(self.rules_path) if self.rules_path else None,
            "seed": self.seed,
            "binaries": self.binaries,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        ports = dict(data["ports"])
        ports["pods"] = tuple(ports["pods"])
        ports["surge"] = tuple(ports.get("surge", ()))
        return cls(
            profile_path=Path(data["profile_path"]),
            ports=Ports(**ports),
            overrides=Overrides(**data["overrides"]),
            host=str(data["host"]),
            artifacts=Path(data["artifacts"]) if data.get("artifacts") else None,
            rules_path=Path(data["rules_path"]) if data.get("rules_path") else None,
            seed=int(data["seed"]),
            binaries=dict(data.get("binaries", {})),
        )

    def save(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> Plan:
        return cls.from_json(json.loads(path.read_text()))


def write_json(path: Path, data: Any) -> None:
    """Write atomically (readers never see half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value
