"""The fault proxy's control API: the local executor sets and clears named faults here.

GET    /faults          every active fault
PUT    /faults/{name}   add or replace one (JSON as NetworkFault.to_json, seconds and fractions)
DELETE /faults/{name}   clear one (404 when it is not active)
DELETE /faults          clear all
GET    /metrics         Prometheus metrics of the proxy
GET    /healthz         liveness
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response

from testbed.faultproxy import FaultProxy
from testbed.faults import FaultError, NetworkFault
from testbed.http import ControlServer, metrics_response


def proxy_control_app(proxy: FaultProxy) -> FastAPI:
    app = FastAPI(title="chaoslab fault proxy", docs_url=None, redoc_url=None, openapi_url=None)

    def listing() -> dict[str, Any]:
        return {
            "listen": f"{proxy.host}:{proxy.port}",
            "upstream": "{}:{}".format(*proxy.upstream),
            "faults": [f.to_json() for f in proxy.faults.values()],
        }

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/faults")
    async def faults() -> dict[str, Any]:
        return listing()

    @app.put("/faults/{name}")
    async def put_fault(name: str, request: Request) -> dict[str, Any]:
        body = await request.json()
        if not isinstance(body, dict):
            raise HTTPException(422, f"body={body!r} must be a JSON object")
        try:
            fault = NetworkFault.from_json({**body, "name": name})
        except FaultError as exc:
            raise HTTPException(422, str(exc)) from exc
        proxy.set_fault(fault)
        return listing()

    @app.delete("/faults/{name}")
    async def delete_fault(name: str) -> dict[str, Any]:
        if not proxy.clear_fault(name):
            raise HTTPException(404, f"fault {name!r} is not active")
        return listing()

    @app.delete("/faults")
    async def delete_all() -> dict[str, Any]:
        proxy.clear_all()
        return listing()

    @app.get("/metrics")
    async def metrics() -> Response:
        return metrics_response(proxy.metrics.registry)

    return app


async def serve_proxy(
    listen: tuple[str, int], upstream: tuple[str, int], control: tuple[str, int], seed: int | None
) -> None:
    """Run the proxy and its control API until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    proxy = FaultProxy(*listen, *upstream, seed=seed)
    await proxy.start()
    api = ControlServer(proxy_control_app(proxy), *control)
    try:
        await api.start()
        await stop.wait()
    finally:
        await api.stop()
        await proxy.stop()
