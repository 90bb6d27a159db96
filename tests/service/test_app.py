"""The HTTP contract, through an in-process ASGI client (no sockets)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from chaos.model_chaos import ChaosConfig
from chaos.system import SystemProfile
from service.app import Pod, create_app
from service.artifacts import Artifacts
from tests.service.conftest import FakeStore, PodFactory, entity_vector

Scenario = Callable[[httpx.AsyncClient], Awaitable[None]]
CONTRACT_FIELDS = {
    "entity_id", "prediction", "probability", "model_version", "feature_source",
    "fallback", "fallback_reason", "degraded", "pod",
}  # fmt: skip


def run(pod: Pod, scenario: Scenario) -> None:
    app = create_app(pod)

    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
                await scenario(client)

    asyncio.run(main())


def test_predict_answers_with_the_contract_fields(
    make_pod: PodFactory, artifacts: Artifacts, dataset_rows: dict[str, dict[str, float]]
) -> None:
    proba = artifacts.models["v1"].predict_proba(entity_vector(dataset_rows, "42"))[0]

    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/predict", json={"entity_id": "42"})
        assert r.status_code == 200
        body = r.json()
        assert set(body) == CONTRACT_FIELDS
        assert body["entity_id"] == "42" and body["pod"] == "pod-test"
        # the primary model's answer for the stored features: its likelier class and that probability
        assert (body["prediction"], body["probability"], body["model_version"]) == (
            int(np.argmax(proba)),
            pytest.approx(float(proba.max())),
            "v1",
        )
        assert body["degraded"] is False
        assert (body["feature_source"], body["fallback"], body["fallback_reason"]) == ("store", False, None)

    run(make_pod(), scenario)


def test_predict_answers_are_compact_json_with_a_length(make_pod: PodFactory) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/predict", json={"entity_id": "42"})
        assert r.headers["content-type"] == "application/json"
        assert int(r.headers["content-length"]) == len(r.content)
        assert r.content.startswith(b'{"entity_id":"42","prediction":')
        refused = await client.post("/predict", content=b"{not json")
        assert refused.headers["content-type"] == "application/json"
        assert refused.json()["detail"][0]["message"].startswith("not valid JSON")

    run(make_pod(), scenario)


def test_predict_takes_only_post(make_pod: PodFactory) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.get("/predict")
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        assert (await client.post("/predict/", json={"entity_id": "1"})).status_code in (307, 404)

    pod = make_pod()
    run(pod, scenario)
    assert (
        pod.metrics.registry.get_sample_value(
            "mlservice_requests_total", {"outcome": "success", "code": "200"}
        )
        == 0
    )


def test_the_router_serves_predict_as_the_shortcut_does(make_pod: PodFactory) -> None:
    pod = make_pod()
    app = create_app(pod)

    async def router_only(scope: Scope, receive: Receive, send: Send) -> None:
        await Starlette.__call__(app, scope, receive, send)  # skip PodApp's shortcut

    async def main() -> tuple[httpx.Response, httpx.Response]:
        async with app.router.lifespan_context(app):
            answers = []
            for asgi in (app, router_only):
                transport = httpx.ASGITransport(app=asgi)
                async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
                    answers.append(await client.post("/predict", json={"entity_id": "42"}))
            return answers[0], answers[1]

    shortcut, routed = asyncio.run(main())
    assert routed.status_code == 200 and routed.content == shortcut.content
    assert routed.headers["content-type"] == shortcut.headers["content-type"]
    assert (
        pod.metrics.registry.get_sample_value(
            "mlservice_requests_total", {"outcome": "success", "code": "200"}
        )
        == 2
    )


def test_predict_body_may_arrive_in_several_messages(make_pod: PodFactory) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"entity', b'_id": ', b'"7"}'):
            yield part

    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/predict", content=chunks())
        assert r.status_code == 200 and r.json()["entity_id"] == "7"

    run(make_pod(), scenario)


def test_request_features_are_used(make_pod: PodFactory, dataset_rows: dict[str, dict[str, float]]) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        features = dataset_rows["3"]
        r = await client.post("/predict", json={"entity_id": "anyone", "features": features})
        assert r.status_code == 200
        assert r.json()["feature_source"] == "request"
        same = await client.post("/predict", json={"entity_id": "3"})
        assert same.json()["prediction"] == r.json()["prediction"]

    run(make_pod(), scenario)


def test_malformed_requests_get_422_naming_the_field(make_pod: PodFactory) -> None:
    cases = [
        (b"{not json", ""),
        (b"[1, 2]", ""),
        (b'{"entity_id": 42}', "entity_id"),
        (b'{"entity_id": ""}', "entity_id"),
        (b'{"entity_id": "1", "features": {"mean_radius": "big"}}', "features.mean_radius"),
        (b'{"entity_id": "1", "features": {"colour": 1}}', "features.colour"),
        (b'{"entity_id": "1", "features": [1]}', "features"),
        (b'{"entity_id": "1", "extra": true}', "extra"),
    ]

    async def scenario(client: httpx.AsyncClient) -> None:
        for body, field in cases:
            r = await client.post("/predict", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 422, body
            assert r.json()["error"] == "invalid_request"
            assert field in [d["field"] for d in r.json()["detail"]], (body, r.json())

    pod = make_pod()
    run(pod, scenario)
    assert pod.metrics.registry.get_sample_value(
        "mlservice_requests_total", {"outcome": "invalid", "code": "422"}
    ) == len(cases)


def test_full_queue_answers_503_at_once(
    make_pod: PodFactory, profile: SystemProfile, store: FakeStore
) -> None:
    tight = dataclasses.replace(
        profile, service=dataclasses.replace(profile.service, concurrency=1, max_queue=1)
    )
    pod = make_pod(profile=tight)
    pod.predictor.resolver.timeout = 60.0  # the hanging store holds the slot until the test ends it

    async def scenario(client: httpx.AsyncClient) -> None:
        store.hang = True
        holders = [asyncio.create_task(client.post("/predict", json={"entity_id": "1"})) for _ in range(2)]
        deadline = asyncio.get_running_loop().time() + 5
        while not (pod.capacity.running == 1 and pod.capacity.queued == 1):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.001)
        async with asyncio.timeout(5):  # refused at once; a regression fails instead of hanging
            r = await client.post("/predict", json={"entity_id": "2"})
        assert (r.status_code, r.json()) == (503, {"error": "overloaded"})
        for task in holders:
            task.cancel()
        await asyncio.gather(*holders, return_exceptions=True)

    run(pod, scenario)
    assert (
        pod.metrics.registry.get_sample_value("mlservice_requests_total", {"outcome": "error", "code": "503"})
        == 1
    )


def test_deadline_answers_504(make_pod: PodFactory, profile: SystemProfile) -> None:
    quick = dataclasses.replace(profile, service=dataclasses.replace(profile.service, request_timeout=0.02))
    pod = make_pod(profile=quick)
    pod.predictor.service_time = lambda: 60.0  # a model slower than the request deadline

    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/predict", json={"entity_id": "1"})
        assert r.status_code == 504
        assert r.json() == {"error": "deadline_exceeded", "deadline_seconds": 0.02}

    run(pod, scenario)
    assert (
        pod.metrics.registry.get_sample_value("mlservice_requests_total", {"outcome": "error", "code": "504"})
        == 1
    )
    assert pod.capacity.running == 0


def test_unexpected_failure_answers_500_and_is_counted(make_pod: PodFactory) -> None:
    pod = make_pod()

    def broken() -> float:
        raise RuntimeError("service-time sampler broke")

    pod.predictor.service_time = broken

    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/predict", json={"entity_id": "1"})
        assert (r.status_code, r.json()) == (500, {"error": "internal"})

    run(pod, scenario)
    assert (
        pod.metrics.registry.get_sample_value("mlservice_requests_total", {"outcome": "error", "code": "500"})
        == 1
    )


def test_probes_and_version(make_pod: PodFactory, store: FakeStore) -> None:
    pod = make_pod(ChaosConfig(enabled=True, exception_rate=0.1, timeout_rate=0.0, wrong_prediction_rate=0.0))

    async def scenario(client: httpx.AsyncClient) -> None:
        store.error = ConnectionRefusedError(111, "refused")  # readiness must not care
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/ready")).json() == {"status": "ready", "pod": "pod-test"}
        version = (await client.get("/version")).json()
        assert version["model_version"] == "v1"
        assert version["available_versions"] == ["v1", "v2", "v3-bad"]
        assert version["chaos"]["enabled"] is True and version["chaos"]["exception_rate"] == 0.1

    assert not pod.ready
    run(pod, scenario)
    assert not pod.ready and store.closed  # shutdown marks the pod not ready and closes the store
    assert pod.metrics.registry.get_sample_value("mlservice_ready") == 0


def test_not_ready_pod_answers_503_on_ready(make_pod: PodFactory) -> None:
    pod = make_pod()
    app = create_app(pod)

    async def main() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
            return (await client.get("/ready")).status_code

    assert asyncio.run(main()) == 503  # start-up has not run


def test_a_pod_starting_up_fails_ready_until_its_start_up_time(make_pod: PodFactory) -> None:
    pod = make_pod()
    pod.ready_not_before = time.time() + 0.3
    seen: list[tuple[int, float]] = []

    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.post("/predict", json={"entity_id": "42"})).status_code == 200, "it serves"
        for _ in range(250):  # at most ~5 s
            seen.append(((await client.get("/ready")).status_code, time.time()))
            if seen[-1][0] == 200:
                break
            await asyncio.sleep(0.02)

    run(pod, scenario)
    assert seen[0][0] == 503
    first_ready = next((at for status, at in seen if status == 200), None)
    assert first_ready is not None, "ready once its start-up time has passed"
    assert first_ready >= pod.ready_not_before
    assert all(status == 503 for status, at in seen if at < pod.ready_not_before)


def test_admin_endpoint_needs_the_bearer_token(make_pod: PodFactory) -> None:
    pod = make_pod(admin_token="s3cret")

    async def scenario(client: httpx.AsyncClient) -> None:
        url, body = "/admin/model", {"version": "v2"}
        assert (await client.post(url, json=body)).status_code == 401
        wrong = await client.post(url, json=body, headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
        basic = await client.post(url, json=body, headers={"Authorization": "Basic s3cret"})
        assert basic.status_code == 401
        assert (await client.get("/version")).json()["model_version"] == "v1"
        auth = {"Authorization": "Bearer s3cret"}
        ok = await client.post(url, json=body, headers=auth)
        assert ok.json() == {"pod": "pod-test", "model_version": "v2", "previous_version": "v1"}
        assert (await client.post("/predict", json={"entity_id": "5"})).json()["model_version"] == "v2"
        unknown = await client.post(url, json={"version": "v9"}, headers=auth)
        assert unknown.status_code == 404 and unknown.json()["available"] == ["v1", "v2", "v3-bad"]
        assert (await client.post(url, json={"v": 1}, headers=auth)).status_code == 422
        back = await client.post(url, json={"version": "v1"}, headers=auth)
        assert back.json()["previous_version"] == "v2"

    run(pod, scenario)
    assert pod.metrics.registry.get_sample_value("mlservice_model_switches_total", {"version": "v2"}) == 1


def test_admin_endpoint_is_disabled_without_a_token(make_pod: PodFactory) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/admin/model", json={"version": "v2"}, headers={"Authorization": "Bearer "})
        assert r.status_code == 403
        assert (await client.get("/version")).json()["model_version"] == "v1"

    run(make_pod(admin_token=None), scenario)


def test_metrics_exposition_counts_what_happened(make_pod: PodFactory, store: FakeStore) -> None:
    pod = make_pod()

    async def scenario(client: httpx.AsyncClient) -> None:
        for i in range(3):
            await client.post("/predict", json={"entity_id": str(i)})
        store.error = ConnectionRefusedError(111, "refused")
        await client.post("/predict", json={"entity_id": "0"})  # cached
        await client.post("/predict", json={"entity_id": "9"})  # defaults
        r = await client.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text)
            for s in family.samples
        }
        assert samples[("mlservice_requests_total", (("code", "200"), ("outcome", "success")))] == 5
        assert samples[("mlservice_request_duration_seconds_count", ())] == 5
        assert samples[("mlservice_feature_source_total", (("source", "store"),))] == 3
        assert samples[("mlservice_feature_source_total", (("source", "cache"),))] == 1
        assert samples[("mlservice_feature_source_total", (("source", "defaults"),))] == 1
        assert samples[("mlservice_fallbacks_total", (("reason", "store_error"),))] == 2
        assert samples[("mlservice_feature_cache_entries", ())] == 3
        assert samples[("mlservice_feature_cache_lookups_total", (("result", "hit"),))] == 1
        predicted = sum(v for (name, _), v in samples.items() if name == "mlservice_predictions_total")
        assert predicted == 5
        assert samples[("mlservice_circuit_breaker_state", (("state", "closed"),))] == 1
        assert samples[("mlservice_model_info", (("version", "v1"),))] == 1
        assert samples[("mlservice_concurrency_limit", ())] == 2
        reference = samples[("mlservice_model_reference_positive_ratio", ())]
        assert reference == pytest.approx(pod.predictor.artifacts.reference_positive_ratio)
        assert 0.6 < reference < 0.65  # the training split keeps about the data set's 357 of 569 positives
        assert samples[("mlservice_requests_in_flight", ())] == 0

    run(pod, scenario)
