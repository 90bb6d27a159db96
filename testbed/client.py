"""Talking to a running testbed from another process: addresses, pods, faults, servers' views.

Everything is found through the run directory's plan, so a client needs nothing but the folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from chaos.errors import ChaosLabError
from testbed.components import redis_url
from testbed.config import Plan
from testbed.faults import NetworkFault
from testbed.haproxy import ServerState, server_name, server_states
from testbed.rundir import RunDir, default_run_dir

TIMEOUT = 5.0


class TestbedNotRunningError(ChaosLabError):
    """No testbed answers at the run directory's addresses."""

    hint = "start one with `chaoslab testbed up` (or pass the --run-dir it uses)"


class TestbedRequestError(ChaosLabError):
    """The testbed refused a command (unknown pod, invalid fault...)."""


@dataclass(frozen=True)
class Urls:
    service: str
    prometheus: str
    haproxy_stats: str
    haproxy_metrics: str
    supervisor: str
    proxy_control: str
    feature_store: str
    """What the pods use: Redis through the fault proxy."""
    redis_direct: str
    node_exporter: str
    """The machine's CPU counters (node_cpu_seconds_total)."""

    @classmethod
    def of(cls, plan: Plan) -> Urls:
        p = plan.ports
        return cls(
            service=plan.url(p.service),
            prometheus=plan.url(p.prometheus),
            haproxy_stats=plan.url(p.haproxy_metrics, "/stats"),
            haproxy_metrics=plan.url(p.haproxy_metrics, "/metrics"),
            supervisor=plan.url(p.supervisor),
            proxy_control=plan.url(p.proxy_control),
            feature_store=redis_url(plan.host, p.proxy),
            redis_direct=redis_url(plan.host, p.redis),
            node_exporter=plan.url(p.node_exporter, "/metrics"),
        )


class TestbedClient:
    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, run_dir: RunDir | Path | None = None, timeout: float = TIMEOUT) -> None:
        self.run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir or default_run_dir())
        if not self.run_dir.exists():
            raise TestbedNotRunningError(f"no testbed plan in {self.run_dir.path}")
        self.plan = self.run_dir.plan()
        self.urls = Urls.of(self.plan)
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TestbedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pods (the daemon) -------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        state: dict[str, Any] = self._call("GET", self.urls.supervisor, "/status")
        return state

    def pods(self) -> list[dict[str, Any]]:
        pods: list[dict[str, Any]] = self._call("GET", self.urls.supervisor, "/pods")["pods"]
        return pods

    def delete_pod(self, name: str, grace: float = 0.0) -> None:
        self._call("DELETE", self.urls.supervisor, f"/pods/{name}", params={"grace": grace})

    def inject_pod_failure(self, name: str) -> None:
        self._call("POST", self.urls.supervisor, f"/pods/{name}/failure")

    def recover_pod_failure(self, name: str) -> None:
        self._call("DELETE", self.urls.supervisor, f"/pods/{name}/failure")

    def kill_container(self, name: str, container: str) -> None:
        self._call("POST", self.urls.supervisor, f"/pods/{name}/containers/{container}/kill")

    def rollout(self) -> dict[str, Any]:
        """The Deployment's rollout: revision, env, pods, updated, ready, complete."""
        state: dict[str, Any] = self._call("GET", self.urls.supervisor, "/rollout")
        return state

    def template_env(self) -> dict[str, str]:
        """The container environment of the template the pods roll towards ({}: the original)."""
        return {str(k): str(v) for k, v in self.rollout()["env"].items()}

    def roll(self, env: Mapping[str, str]) -> dict[str, Any]:
        """Start a rolling update to the pod template with container environment `env`."""
        state: dict[str, Any] = self._call("PUT", self.urls.supervisor, "/rollout", json={"env": dict(env)})
        return state

    # -- the fault proxy ---------------------------------------------------------------------
    def faults(self) -> list[NetworkFault]:
        data = self._call("GET", self.urls.proxy_control, "/faults")
        return [NetworkFault.from_json(f) for f in data["faults"]]

    def set_fault(self, fault: NetworkFault) -> None:
        body = {k: v for k, v in fault.to_json().items() if k != "name"}
        self._call("PUT", self.urls.proxy_control, f"/faults/{fault.name}", json=body)

    def clear_fault(self, name: str) -> bool:
        try:
            self._call("DELETE", self.urls.proxy_control, f"/faults/{name}")
        except TestbedRequestError:
            return False
        return True

    # -- HAProxy -----------------------------------------------------------------------------
    def servers(self) -> dict[str, ServerState]:
        """HAProxy's view of each slot, keyed by slot number."""
        try:
            states = server_states(self.run_dir.file("haproxy.sock"))
        except OSError as exc:
            raise TestbedNotRunningError(f"HAProxy's runtime socket does not answer: {exc}") from exc
        slots = {server_name(slot): slot for slot in range(len(self.plan.ports.slots))}
        return {str(slots[name]): state for name, state in states.items() if name in slots}

    # -- plumbing ----------------------------------------------------------------------------
    def _call(self, method: str, base: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, base + path, **kwargs)
        except httpx.TransportError as exc:
            raise TestbedNotRunningError(f"the testbed at {base} does not answer ({exc})") from exc
        if response.status_code >= 400:
            raise TestbedRequestError(f"{method} {path}: {_detail(response)}")
        return response.json()

    def get_json(self, url: str, params: Mapping[str, str] | None = None) -> Any:
        try:
            response = self._http.get(url, params=params)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TestbedNotRunningError(f"{url} does not answer ({exc})") from exc

    def get_text(self, url: str) -> str:
        try:
            response = self._http.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise TestbedNotRunningError(f"{url} does not answer ({exc})") from exc
        return response.text


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return str(detail or response.text or response.status_code)
