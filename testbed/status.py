"""One view of a running testbed: pods (ready, restarts, HAProxy's verdict, breaker), proxy faults,
alerts, and the processes behind it all (what `chaoslab testbed status` shows)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from chaos import processes
from chaos.errors import ChaosLabError
from testbed.client import TestbedClient

BREAKER_METRIC = "mlservice_circuit_breaker_state"
POD_METRICS_TIMEOUT = 1.0


@dataclass(frozen=True)
class PodStatus:
    name: str
    slot: int
    port: int
    phase: str
    ready: bool
    restarts: int
    reason: str
    failure_injected: bool
    haproxy: str
    breaker: str


@dataclass(frozen=True)
class Alert:
    name: str
    state: str
    active_at: str


@dataclass(frozen=True)
class Component:
    name: str
    pid: int
    alive: bool


@dataclass
class TestbedStatus:
    __test__ = False  # not a pytest test class, despite its name

    run_dir: str
    phase: str
    urls: dict[str, str]
    pods: list[PodStatus] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def breaker_state(metrics_text: str) -> str:
    """The circuit breaker's state from a pod's /metrics ("closed", "open", "half_open"), or "?"."""
    for family in text_string_to_metric_families(metrics_text):
        if family.name != BREAKER_METRIC:
            continue
        for sample in family.samples:
            if sample.value == 1:
                return str(sample.labels.get("state", "?"))
    return "?"


def collect_status(client: TestbedClient) -> TestbedStatus:
    """Ask every component; raises TestbedNotRunningError when the daemon does not answer."""
    state = client.status()
    status = TestbedStatus(
        run_dir=str(client.run_dir.path),
        phase=str(state.get("phase", "?")),
        urls={k: v for k, v in vars(client.urls).items()},
        rules=list(state.get("rules", [])),
        components=[Component(r.name, r.pid, processes.is_alive(r)) for r in client.run_dir.processes()],
    )
    try:
        servers = client.servers()
    except ChaosLabError:
        servers = {}
    for pod in state.get("pods", []):
        server = servers.get(str(pod["slot"]))
        status.pods.append(
            PodStatus(
                name=pod["name"],
                slot=pod["slot"],
                port=pod["port"],
                phase=pod["phase"],
                ready=pod["ready"],
                restarts=pod["restarts"],
                reason=pod["reason"],
                failure_injected=pod["failure_injected"],
                haproxy=server.status if server else "?",
                breaker=_pod_breaker(client.plan.url(pod["port"], "/metrics")) if pod["ready"] else "-",
            )
        )
    try:
        status.faults = [f.to_json() for f in client.faults()]
    except ChaosLabError:
        status.faults = []
    status.alerts = _alerts(client)
    return status


def _pod_breaker(url: str) -> str:
    try:
        response = httpx.get(url, timeout=POD_METRICS_TIMEOUT)
        response.raise_for_status()
    except httpx.HTTPError:
        return "?"
    return breaker_state(response.text)


def _alerts(client: TestbedClient) -> list[Alert]:
    try:
        data = client.get_json(client.urls.prometheus + "/api/v1/alerts")
    except ChaosLabError:
        return []
    return [
        Alert(str(a["labels"].get("alertname", "?")), str(a.get("state", "?")), str(a.get("activeAt", "")))
        for a in data.get("data", {}).get("alerts", [])
    ]
