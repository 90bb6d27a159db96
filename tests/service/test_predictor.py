"""Predictions end to end inside a pod: model chaos answered by the fallback model, version switches."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from chaos.model_chaos import ChaosConfig
from service.app import Pod
from service.artifacts import Artifacts
from service.predictor import UnknownModelVersion
from service.schema import Prediction, PredictRequest
from tests.service.conftest import FakeStore, PodFactory, entity_vector

ALWAYS = {"exception": ChaosConfig(True, 1.0, 0.0, 0.0), "timeout": ChaosConfig(True, 0.0, 1.0, 0.0)}


def _predict(pod: Pod, entity_id: str = "42") -> Prediction:
    return asyncio.run(pod.predictor.predict(PredictRequest(entity_id, {})))


def test_nominal_answer_comes_from_the_store_and_the_primary_model(
    make_pod: PodFactory, artifacts: Artifacts, dataset_rows: dict[str, dict[str, float]]
) -> None:
    answer = _predict(make_pod())
    proba = artifacts.models["v1"].predict_proba(entity_vector(dataset_rows, "42"))[0]
    assert answer == Prediction(
        "42", int(np.argmax(proba)), float(proba.max()), "v1", "store", False, None, False
    )


def test_injected_exception_is_answered_by_the_fallback_model(
    make_pod: PodFactory, artifacts: Artifacts, dataset_rows: dict[str, dict[str, float]]
) -> None:
    pod = make_pod(ALWAYS["exception"])
    answer = _predict(pod)
    proba = artifacts.fallback.predict_proba(entity_vector(dataset_rows, "42"))[0]
    assert answer == Prediction(
        "42", int(np.argmax(proba)), float(proba.max()), "fallback", "store", True, "model_error", True
    )
    registry = pod.metrics.registry
    assert registry.get_sample_value("mlservice_chaos_injections_total", {"type": "exception"}) == 1
    assert registry.get_sample_value("mlservice_fallbacks_total", {"reason": "model_error"}) == 1


def test_injected_timeout_is_cut_at_the_model_deadline(make_pod: PodFactory) -> None:
    pod = make_pod(ALWAYS["timeout"])
    pod.predictor.model_deadline = 0.01  # the injected hang lasts 30 s; the deadline ends it
    answer = _predict(pod)
    assert (answer.model_version, answer.fallback_reason, answer.degraded) == (
        "fallback",
        "model_timeout",
        True,
    )
    assert pod.metrics.registry.get_sample_value("mlservice_chaos_injections_total", {"type": "timeout"}) == 1


def test_wrong_prediction_is_served_silently(make_pod: PodFactory) -> None:
    honest = _predict(make_pod())
    lying = _predict(make_pod(ChaosConfig(True, 0.0, 0.0, 1.0)))
    assert lying.prediction == 1 - honest.prediction
    assert lying.probability == pytest.approx(honest.probability)
    assert (lying.model_version, lying.fallback, lying.degraded) == ("v1", False, False)


def test_cached_features_are_a_fallback_but_not_degraded(make_pod: PodFactory, store: FakeStore) -> None:
    pod = make_pod()
    fresh = _predict(pod)
    store.error = ConnectionRefusedError(111, "refused")
    cached = _predict(pod)
    assert (cached.feature_source, cached.fallback, cached.fallback_reason, cached.degraded) == (
        "cache", True, "store_error", False,
    )  # fmt: skip
    assert (cached.prediction, cached.model_version) == (fresh.prediction, "v1")


def test_default_features_go_straight_to_the_fallback_model(make_pod: PodFactory, store: FakeStore) -> None:
    pod = make_pod(ALWAYS["exception"])
    store.error = ConnectionRefusedError(111, "refused")
    answer = _predict(pod)
    assert (answer.feature_source, answer.model_version, answer.fallback_reason, answer.degraded) == (
        "defaults", "fallback", "store_error", True,
    )  # fmt: skip
    assert (
        pod.metrics.registry.get_sample_value("mlservice_chaos_injections_total", {"type": "exception"}) == 0
    )


def test_model_chaos_is_answered_even_when_features_came_from_the_cache(
    make_pod: PodFactory, store: FakeStore
) -> None:
    pod = make_pod(ALWAYS["exception"])
    _predict(pod)
    store.error = ConnectionRefusedError(111, "refused")
    answer = _predict(pod)
    assert (answer.feature_source, answer.model_version, answer.fallback_reason) == (
        "cache",
        "fallback",
        "model_error",
    )


def test_switching_versions_changes_the_answers(make_pod: PodFactory) -> None:
    pod = make_pod()
    ids = [str(i) for i in range(0, 569, 7)]
    good = [_predict(pod, i).prediction for i in ids]
    assert pod.predictor.switch("v3-bad") == "v1"
    bad = [_predict(pod, i) for i in ids]
    assert {b.model_version for b in bad} == {"v3-bad"}
    flipped = sum(g != b.prediction for g, b in zip(good, bad, strict=True))
    assert flipped > 0.8 * len(ids)
    assert pod.metrics.registry.get_sample_value("mlservice_model_info", {"version": "v3-bad"}) == 1
    assert pod.metrics.registry.get_sample_value("mlservice_model_info", {"version": "v1"}) == 0
    with pytest.raises(UnknownModelVersion, match="'v9'"):
        pod.predictor.switch("v9")
    with pytest.raises(UnknownModelVersion):
        pod.predictor.switch("fallback")  # the fallback model is not a primary version


def test_service_time_is_waited_not_burned(make_pod: PodFactory) -> None:
    pod = make_pod()
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    pod.predictor._sleep = fake_sleep
    pod.predictor.service_time = lambda: 0.25
    _predict(pod)
    assert waits == [0.25]
