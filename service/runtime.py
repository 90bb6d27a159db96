"""Building a pod from its settings (system profile, artifacts, environment) and serving it with uvicorn."""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import numpy as np
import uvicorn
from prometheus_client import disable_created_metrics

from chaos.model_chaos import ChaosConfig, profile_config, seed_from_env
from chaos.rollout import ENV_MODEL_VERSION as ROLLOUT_MODEL_VERSION
from chaos.system import SystemProfile, load_system_profile
from service.app import Pod, create_app
from service.artifacts import Artifacts, load_artifacts
from service.breaker import CircuitBreaker
from service.cache import TTLCache
from service.capacity import Capacity, ServiceTime
from service.errors import ServiceConfigError
from service.feature_store import FeatureStore, RedisFeatureStore
from service.features import FeatureResolver
from service.metrics import ServiceMetrics
from service.predictor import Predictor, UnknownModelVersion

log = logging.getLogger(__name__)

ENV_ADMIN_TOKEN = "CHAOSLAB_ADMIN_TOKEN"
ENV_MODEL_VERSION = ROLLOUT_MODEL_VERSION
"""The primary model version when --model-version is not given (a model rollout sets it)."""
SHUTDOWN_GRACE = 1.0  # seconds beyond the request deadline that in-flight requests get on SIGTERM
EVENT_LOOP = "uvloop"
"""uvicorn's event loop; `Server.run` builds it (`asyncio.run` would always use the default loop)."""
HTTP_PARSER = "httptools"
"""uvicorn's HTTP/1.1 parser: httptools parses in C, h11 (uvicorn's fallback) in Python."""


@dataclass(frozen=True)
class ServeSettings:
    """What `python -m service serve` was asked to run."""

    host: str
    port: int
    pod_name: str
    profile: SystemProfile
    redis_url: str
    artifacts_dir: Path
    chaos: ChaosConfig
    chaos_seed: int | None = None
    admin_token: str | None = None
    model_version: str | None = None
    ready_not_before: float | None = None
    """Wall-clock time (epoch seconds) before which the pod does not listen: emulated container start-up."""


def chaos_config(profile: SystemProfile, env: Mapping[str, str]) -> ChaosConfig:
    """The profile's modelChaos section, overridden by CHAOS_* environment variables."""
    return profile_config(profile.model_chaos, env)


def serve_settings(
    *,
    host: str,
    port: int,
    pod_name: str,
    profile_path: Path,
    redis_url: str,
    artifacts_dir: Path,
    env: Mapping[str, str],
    model_version: str | None = None,
    concurrency: int | None = None,
    ready_not_before: float | None = None,
) -> ServeSettings:
    if not 0 < port < 65536:
        raise ServiceConfigError(f"--port={port} must be in 1..65535")
    if not pod_name:
        raise ServiceConfigError("--pod-name must not be empty")
    if concurrency is not None and concurrency < 1:
        raise ServiceConfigError(f"--concurrency={concurrency} must be >= 1")
    profile = load_system_profile(profile_path)
    if concurrency is not None:
        profile = dataclasses.replace(
            profile, service=dataclasses.replace(profile.service, concurrency=concurrency)
        )
    return ServeSettings(
        host=host,
        port=port,
        pod_name=pod_name,
        profile=profile,
        redis_url=redis_url,
        artifacts_dir=artifacts_dir,
        chaos=chaos_config(profile, env),
        chaos_seed=seed_from_env(env),
        admin_token=env.get(ENV_ADMIN_TOKEN) or None,
        model_version=model_version or env.get(ENV_MODEL_VERSION) or None,
        ready_not_before=ready_not_before,
    )


def build_pod(
    name: str,
    profile: SystemProfile,
    artifacts: Artifacts,
    store: FeatureStore,
    chaos: ChaosConfig,
    *,
    seed: int | None = None,
    admin_token: str | None = None,
    model_version: str | None = None,
    ready_not_before: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    metrics: ServiceMetrics | None = None,
) -> Pod:
    """Wire a pod's parts from the profile; `store` and `clock` are seams for tests."""
    metrics = metrics or ServiceMetrics()
    breaker = CircuitBreaker(profile.breaker, clock=clock, on_transition=metrics.breaker_transition)
    cache: TTLCache[str, dict[str, float]] = TTLCache(
        profile.cache.max_entries, profile.cache.ttl, clock=clock
    )
    resolver = FeatureResolver(
        store, breaker, cache, artifacts.defaults, profile.feature_store.timeout, metrics, clock=clock
    )
    seeds = np.random.SeedSequence(seed).spawn(2)
    service_time = ServiceTime(profile.service.service_time, np.random.default_rng(seeds[0]))
    chaos_rng = random.Random(int(seeds[1].generate_state(1)[0]))
    try:
        predictor = Predictor(
            artifacts,
            resolver,
            chaos,
            profile.model_chaos.model_deadline,
            service_time.sample,
            metrics,
            chaos_rng,
            version=model_version,
        )
    except UnknownModelVersion as exc:
        raise ServiceConfigError(f"--model-version: {exc}") from None
    capacity = Capacity(profile.service.concurrency, profile.service.max_queue)
    metrics.concurrency_limit.set(capacity.concurrency)
    metrics.queue_limit.set(capacity.max_queue)
    return Pod(
        name=name,
        predictor=predictor,
        capacity=capacity,
        store=store,
        metrics=metrics,
        request_timeout=profile.service.request_timeout,
        admin_token=admin_token,
        ready_not_before=ready_not_before,
        details={"artifacts_dataset": artifacts.dataset},
    )


def run(settings: ServeSettings) -> None:
    """Serve until SIGTERM or SIGINT, then finish in-flight requests and exit."""
    disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series: noise in every scrape
    artifacts = load_artifacts(settings.artifacts_dir)
    store = RedisFeatureStore(settings.redis_url, settings.profile.feature_store.timeout)
    pod = build_pod(
        settings.pod_name,
        settings.profile,
        artifacts,
        store,
        settings.chaos,
        seed=settings.chaos_seed,
        admin_token=settings.admin_token,
        model_version=settings.model_version,
        ready_not_before=settings.ready_not_before,
    )
    if settings.chaos.enabled:
        log.warning("in-app model chaos enabled: %s", settings.chaos.rates)
    if not settings.admin_token:
        log.info("%s is not set: /admin/model refuses every call", ENV_ADMIN_TOKEN)
    config = uvicorn.Config(
        create_app(pod),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        loop=EVENT_LOOP,
        http=HTTP_PARSER,
        proxy_headers=False,  # no X-Forwarded-* to trust: HAProxy does not add them
        lifespan="on",
        timeout_graceful_shutdown=math.ceil(settings.profile.service.request_timeout + SHUTDOWN_GRACE),
    )
    server = uvicorn.Server(config)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    # Everything but listen() before the emulated start-up ends, so the pod listens when it ends
    # and not the 50-170 ms later that loading uvicorn's protocol classes and binding took on a
    # 2-core machine with five pods starting at once: the port is held and refuses until then.
    config.load()
    sock = config.bind_socket()
    _emulate_start_up(settings.ready_not_before)
    server.run(sockets=[sock])
    if not server.started:
        raise ServiceConfigError(f"could not serve on {settings.host}:{settings.port} (see the log above)")


def _emulate_start_up(not_before: float | None) -> None:
    """Listen only once the emulated container start-up is over, as a container still loading its
    model has nothing listening: connections to the pod are refused until then (the simulator's
    "serves after startupTime"). Answering /predict at once while /ready failed let a replacement
    pod serve traffic through the load balancer's slot before it had started."""
    wait = 0.0 if not_before is None else not_before - time.time()
    if wait > 0:
        log.info("emulated start-up: listening in %.2f s", wait)
        time.sleep(wait)


def _exit_cleanly(sig: int, frame: FrameType | None) -> None:
    """SIGTERM/SIGINT outside uvicorn's own handling: before it starts, or re-raised by it after a
    graceful shutdown. Either way the pod is done: exit with status 0 instead of dying by the signal."""
    raise SystemExit(0)
