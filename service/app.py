"""The HTTP face of a pod (Starlette): /predict, /healthz, /ready, /metrics, /version, /admin/model.

Readiness does not depend on the feature store. Every replica shares the one store, so a readiness
check that called it would take all pods out of the load balancer together during a store outage and
turn a degraded service (cached or default features) into a full outage. /ready reports whether
this process can answer /predict: models loaded, start-up done, not shutting down.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from service.capacity import Capacity
from service.errors import Overloaded
from service.feature_store import FeatureStore
from service.metrics import CONTENT_TYPE, ServiceMetrics
from service.predictor import Predictor, UnknownModelVersion
from service.schema import (
    STATUS_DEADLINE,
    STATUS_INTERNAL,
    STATUS_INVALID,
    STATUS_OK,
    STATUS_OVERLOADED,
    InvalidRequest,
    parse_predict_request,
)

log = logging.getLogger(__name__)

SERVICE_VERSION = "0.1.0"
PREDICT_PATH = "/predict"
JSON_CONTENT_TYPE = (b"content-type", b"application/json")
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
"""Compact JSON as Starlette's JSONResponse renders it (one encoder, not one per answer)."""


def _encode(document: dict[str, Any]) -> bytes:
    return _ENCODER.encode(document).encode()


INTERNAL_ERROR = _encode({"error": "internal"})
OVERLOADED = _encode({"error": "overloaded"})


@dataclass
class Pod:
    """One running pod: its name, its parts, and whether it is ready."""

    name: str
    predictor: Predictor
    capacity: Capacity
    store: FeatureStore
    metrics: ServiceMetrics
    request_timeout: float
    admin_token: str | None = None
    clock: Callable[[], float] = time.perf_counter
    ready: bool = False
    ready_not_before: float | None = None
    """Wall-clock time (epoch seconds) before which the pod does not report ready: a container's
    start-up time, emulated on the testbed. None: ready as soon as it serves."""
    details: dict[str, Any] = field(default_factory=dict)

    def set_ready(self, ready: bool) -> None:
        self.ready = ready
        self.metrics.ready.set(1 if ready else 0)


class PredictEndpoint:
    """`POST /predict` as a plain ASGI app: no Request or Response objects on the hot path."""

    def __init__(self, pod: Pod) -> None:
        self.pod = pod

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _predict(self.pod, receive, send)


class PodApp(Starlette):
    """Starlette with `POST /predict` served before its middleware and router.

    /predict is every request the load balancer sends; going straight to the endpoint saves the
    error and exception middleware and the route matching, which cost a pod more CPU than the
    prediction itself. The endpoint answers every exception itself (500), so the middleware had
    nothing to do there. Everything else, `/predict` with another method (405) included, goes
    through Starlette, whose route for /predict is the same endpoint.
    """

    def __init__(self, predict: PredictEndpoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.predict = predict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PREDICT_PATH and scope["method"] == "POST":
            await self.predict(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _ready(pod: Pod) -> None:
    pod.set_ready(True)
    log.info("pod %s ready, serving model %s", pod.name, pod.predictor.version)


async def _ready_later(pod: Pod, wait: float) -> None:
    log.info("pod %s starting: ready in %.2f s", pod.name, wait)
    await asyncio.sleep(wait)
    _ready(pod)


def create_app(pod: Pod) -> PodApp:
    """The ASGI app of `pod`; start-up marks it ready (at once, or at `pod.ready_not_before`), shutdown
    marks it not ready and closes the store."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        wait = 0.0 if pod.ready_not_before is None else pod.ready_not_before - time.time()
        becoming_ready = asyncio.create_task(_ready_later(pod, wait)) if wait > 0 else None
        if becoming_ready is None:
            _ready(pod)
        try:
            yield
        finally:
            if becoming_ready is not None:
                becoming_ready.cancel()
            pod.set_ready(False)
            await pod.store.close()
            log.info("pod %s stopped", pod.name)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "pod": pod.name})

    async def ready(request: Request) -> Response:
        if pod.ready:
            return JSONResponse({"status": "ready", "pod": pod.name})
        return JSONResponse({"status": "not_ready", "pod": pod.name}, status_code=503)

    async def metrics(request: Request) -> Response:
        pod.metrics.set_breaker_state(pod.predictor.resolver.breaker.state)
        pod.metrics.cache_entries.set(len(pod.predictor.resolver.cache))
        pod.metrics.queued.set(pod.capacity.queued)
        return Response(pod.metrics.exposition(), media_type=CONTENT_TYPE)

    async def version(request: Request) -> Response:
        artifacts = pod.predictor.artifacts
        chaos = pod.predictor.chaos
        return JSONResponse(
            {
                "pod": pod.name,
                "service_version": SERVICE_VERSION,
                "model_version": pod.predictor.version,
                "available_versions": list(artifacts.primary_versions),
                "fallback_version": artifacts.fallback_version,
                "chaos": {"enabled": chaos.enabled, **{f"{k}_rate": v for k, v in chaos.rates.items()}},
                **pod.details,
            }
        )

    async def admin_model(request: Request) -> Response:
        return await _admin_model(pod, request)

    predict = PredictEndpoint(pod)
    routes = [
        Route(PREDICT_PATH, predict, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/admin/model", admin_model, methods=["POST"]),
    ]
    return PodApp(predict, routes=routes, lifespan=lifespan)


async def _predict(pod: Pod, receive: Receive, send: Send) -> None:
    start = pod.clock()
    pod.metrics.in_flight.inc()
    status, body = STATUS_INTERNAL, INTERNAL_ERROR
    try:
        status, body = await _answer(pod, await _read_body(receive))
    except Exception:
        log.exception("/predict failed")
    finally:
        pod.metrics.in_flight.dec()
        pod.metrics.count_request(status, pod.clock() - start)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode()), JSON_CONTENT_TYPE],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    """The request body, from one `http.request` message or several."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _answer(pod: Pod, raw: bytes) -> tuple[int, bytes]:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _error(STATUS_INVALID, "invalid_request", [{"field": "", "message": f"not valid JSON: {exc}"}])
    try:
        parsed = parse_predict_request(body, pod.predictor.artifacts.feature_names)
    except InvalidRequest as exc:
        return _error(STATUS_INVALID, "invalid_request", exc.detail())
    deadline = asyncio.timeout(pod.request_timeout)
    try:
        async with deadline, pod.capacity.slot():
            answer = await pod.predictor.predict(parsed)
    except Overloaded:
        return STATUS_OVERLOADED, OVERLOADED
    except TimeoutError:
        if not deadline.expired():
            raise
        expired = {"error": "deadline_exceeded", "deadline_seconds": pod.request_timeout}
        return STATUS_DEADLINE, _encode(expired)
    return STATUS_OK, _encode(answer.to_json(pod.name))


def _error(status: int, error: str, detail: list[dict[str, Any]]) -> tuple[int, bytes]:
    return status, _encode({"error": error, "detail": detail})


async def _admin_model(pod: Pod, request: Request) -> Response:
    """Switch the primary model version (rollout, rollback); needs the pod's bearer token."""
    if not pod.admin_token:
        return JSONResponse({"error": "admin endpoint disabled: the pod was started without a token"}, 403)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), pod.admin_token.encode()
    ):
        log.warning("refused /admin/model call without a valid bearer token from %s", request.client)
        return JSONResponse(
            {"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="admin"'}
        )
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, str) or not version:
        detail = [{"field": "version", "message": "must be a non-empty string"}]
        return JSONResponse({"error": "invalid_request", "detail": detail}, status_code=STATUS_INVALID)
    try:
        previous = pod.predictor.switch(version)
    except UnknownModelVersion as exc:
        return JSONResponse(
            {"error": "unknown_model_version", "version": version, "available": list(exc.available)}, 404
        )
    pod.metrics.model_switches.labels(version).inc()
    return JSONResponse({"pod": pod.name, "model_version": version, "previous_version": previous})
