"""Serving a small control API (FastAPI) inside a process's own asyncio loop.

Uvicorn normally owns the process: it installs signal handlers and re-raises the signals it caught.
The testbed's processes handle SIGTERM/SIGINT themselves (to stop what they started), so the server
here leaves signals alone and is stopped by its owner.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

STARTUP_TIMEOUT = 10.0


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ControlServer:
    """A FastAPI app served on host:port in the running loop until `stop()`."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None
        self._where = f"{host}:{port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT
        while not self._server.started:
            if self._task.done():
                try:
                    self._task.result()
                except SystemExit as exc:  # uvicorn exits when it cannot bind
                    raise OSError(f"control API cannot listen on {self._where}") from exc
                raise OSError(f"control API on {self._where} stopped while starting")
            if loop.time() > deadline:
                raise OSError(f"control API did not start within {STARTUP_TIMEOUT:g} s")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
            self._task = None


def metrics_response(registry: CollectorRegistry) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
