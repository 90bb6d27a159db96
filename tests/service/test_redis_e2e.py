"""The feature store against a real redis-server that the test starts and stops (e2e)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chaos.model_chaos import ChaosConfig
from chaos.system import SystemProfile
from service.app import create_app
from service.artifacts import Artifacts
from service.dataset import feature_names, load_dataset
from service.feature_store import RedisFeatureStore, load_features
from service.runtime import build_pod
from service.schema import PredictRequest
from tests.service.servers import DelayingProxy, RedisServer, redis_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def loaded_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        ids, features, _ = load_dataset()
        assert load_features(server.url, ids, features, feature_names()) == 569
        yield server


def test_loaded_features_read_back_exactly(
    loaded_redis: RedisServer, dataset_rows: dict[str, dict[str, float]]
) -> None:
    async def scenario() -> tuple[dict[str, float] | None, dict[str, float] | None]:
        store = RedisFeatureStore(loaded_redis.url, timeout=1.0)
        try:
            return await store.fetch("42"), await store.fetch("no-such-entity")
        finally:
            await store.close()

    known, unknown = asyncio.run(scenario())
    assert known == dataset_rows["42"]
    assert unknown is None


def test_pod_degrades_to_cache_and_defaults_when_redis_stops(
    loaded_redis: RedisServer, profile: SystemProfile, artifacts: Artifacts
) -> None:
    pod = build_pod("pod-e2e", profile, artifacts, RedisFeatureStore(loaded_redis.url, 0.1), ChaosConfig())
    app = create_app(pod)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:

                async def ask(entity_id: str) -> dict[str, Any]:
                    return dict((await client.post("/predict", json={"entity_id": entity_id})).json())

                before = [await ask(str(i)) for i in range(3)]
                await asyncio.to_thread(loaded_redis.stop)
                after = [await ask("0")] + [await ask("100") for _ in range(6)]
                ready = (await client.get("/ready")).json()
        return before, after, ready

    before, after, ready = asyncio.run(scenario())
    assert {a["feature_source"] for a in before} == {"store"}
    cached, *rest = after
    assert (cached["feature_source"], cached["fallback_reason"]) == ("cache", "store_error")
    assert [a["fallback_reason"] for a in rest] == ["store_error"] * 4 + ["breaker_open"] * 2  # threshold 5
    assert {a["feature_source"] for a in rest} == {"defaults"}
    assert ready["status"] == "ready"  # readiness does not follow the store


def test_slow_link_opens_the_breaker(
    loaded_redis: RedisServer, profile: SystemProfile, artifacts: Artifacts
) -> None:
    async def scenario() -> list[str | None]:
        proxy = DelayingProxy(loaded_redis.port, delay=0.15)  # more than the 100 ms call timeout
        await proxy.start()
        store = RedisFeatureStore(f"redis://127.0.0.1:{proxy.port}/0", timeout=0.1)
        pod = build_pod("pod-slow", profile, artifacts, store, ChaosConfig())
        try:
            return [
                (await pod.predictor.predict(PredictRequest(str(i), {}))).fallback_reason for i in range(7)
            ]
        finally:
            await store.close()
            await proxy.stop()

    assert asyncio.run(scenario()) == ["store_timeout"] * 5 + ["breaker_open"] * 2
