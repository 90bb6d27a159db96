"""The testbed daemon's HTTP API: its state, the pods, and the PodChaos commands the executor sends.

GET    /status                                    phase, start-up steps, pods
GET    /pods                                      pods (name, phase, ready, restarts, ...)
DELETE /pods/{name}?grace=S                       pod-kill (the ReplicaSet recreates it)
POST   /pods/{name}/failure                       pod-failure injected
DELETE /pods/{name}/failure                       pod-failure recovered
POST   /pods/{name}/containers/{container}/kill   container-kill
GET    /rollout                                   the rollout: revision, updated, ready, complete
PUT    /rollout {"env": {...}}                    rolling update to the template with that environment
GET    /metrics                                   pod and ReplicaSet metrics (kube-state-metrics names)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from fastapi import FastAPI, HTTPException, Response
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from testbed.http import metrics_response
from testbed.replicaset import PodNotFoundError
from testbed.supervisor import Supervisor


class RolloutBody(BaseModel):
    """A rolling update to the pod template with this container environment ({} = the original)."""

    env: dict[str, str]


class DaemonView(Protocol):
    supervisor: Supervisor | None
    registry: CollectorRegistry

    def state(self) -> dict[str, Any]: ...


def daemon_app(daemon: DaemonView) -> FastAPI:
    app = FastAPI(title="chaoslab testbed", docs_url=None, redoc_url=None, openapi_url=None)

    def supervisor() -> Supervisor:
        if daemon.supervisor is None:
            raise HTTPException(503, "the pods are not started yet")
        return daemon.supervisor

    def pod_command(name: str, command: Callable[[str], None]) -> dict[str, Any]:
        try:
            command(name)
        except PodNotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        return {"pods": supervisor().pod_views()}

    @app.get("/status")
    async def status() -> dict[str, Any]:
        state = daemon.state()
        state["pods"] = daemon.supervisor.pod_views() if daemon.supervisor else []
        return state

    @app.get("/pods")
    async def pods() -> dict[str, Any]:
        return {"pods": supervisor().pod_views()}

    @app.delete("/pods/{name}")
    async def delete_pod(name: str, grace: float = 0.0) -> dict[str, Any]:
        if grace < 0:
            raise HTTPException(422, f"grace={grace} must be >= 0")
        return pod_command(name, lambda n: supervisor().delete_pod(n, grace))

    @app.post("/pods/{name}/failure")
    async def inject_failure(name: str) -> dict[str, Any]:
        return pod_command(name, supervisor().inject_failure)

    @app.delete("/pods/{name}/failure")
    async def recover_failure(name: str) -> dict[str, Any]:
        return pod_command(name, supervisor().recover_failure)

    @app.post("/pods/{name}/containers/{container}/kill")
    async def kill_container(name: str, container: str) -> dict[str, Any]:
        expected = supervisor().replicaset.template.container
        if container != expected:
            raise HTTPException(404, f"container {container!r} does not exist; pods run {expected!r}")
        return pod_command(name, supervisor().kill_container)

    @app.get("/rollout")
    async def rollout() -> dict[str, Any]:
        return supervisor().rollout_view()

    @app.put("/rollout")
    async def roll(body: RolloutBody) -> dict[str, Any]:
        supervisor().roll(tuple(sorted(body.env.items())))
        return supervisor().rollout_view()

    @app.get("/metrics")
    async def metrics() -> Response:
        return metrics_response(daemon.registry)

    return app
