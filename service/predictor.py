"""One prediction, end to end inside a model slot: features, service time, primary model, fallback model.

The primary model is wrapped in `ChaosModelWrapper`, so in-app chaos can make it raise, hang or lie.
A raise is answered by the fallback model (reason model_error); a hang is cut at `model_deadline`
and answered by the fallback model (reason model_timeout), well within the request deadline; a lie
is not detected (that is what the prediction-distribution alert is for). When only default features
are left, the fallback model answers directly: the primary model's answer for an average entity
means nothing.

The answer's `fallback` is true when any fallback served it (cached features, default features or
the fallback model); `degraded` is true when its quality is reduced (default features or the fallback
model); `fallback_reason` names the fallback that decided the answer: the model's reason when the
fallback model stood in for a failed primary, else the feature lookup's reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from chaos.model_chaos import ChaosConfig, ChaosModelWrapper, InjectedModelError, UniformSource
from service.artifacts import Artifacts
from service.features import FeatureResolver
from service.linear import LinearClassifier
from service.metrics import ServiceMetrics
from service.schema import (
    REASON_MODEL_ERROR,
    REASON_MODEL_TIMEOUT,
    SOURCE_DEFAULTS,
    Prediction,
    PredictRequest,
)

log = logging.getLogger(__name__)


class UnknownModelVersion(LookupError):
    def __init__(self, version: str, available: tuple[str, ...]) -> None:
        self.version = version
        self.available = available
        super().__init__(f"model version {version!r} is not among {list(available)}")


class Predictor:
    """Answers PredictRequests; holds the active primary model version (switchable at run time)."""

    def __init__(
        self,
        artifacts: Artifacts,
        resolver: FeatureResolver,
        chaos: ChaosConfig,
        model_deadline: float,
        service_time: Callable[[], float],
        metrics: ServiceMetrics,
        rng: UniformSource,
        version: str | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.artifacts = artifacts
        self.resolver = resolver
        self.chaos = chaos
        self.model_deadline = model_deadline
        self.service_time = service_time
        self.metrics = metrics
        self._rng = rng
        self._sleep = sleep
        self._names = artifacts.feature_names
        self._fallback = artifacts.fallback
        self.version = ""
        self.primary = self._wrap(artifacts.models[artifacts.default_version])
        metrics.declare_models(
            (*artifacts.primary_versions, artifacts.fallback_version), artifacts.default_version
        )
        metrics.reference_positive_ratio.set(artifacts.reference_positive_ratio)
        self.switch(version or artifacts.default_version)

    def _wrap(self, model: LinearClassifier) -> ChaosModelWrapper:
        return ChaosModelWrapper(
            model, self.chaos, rng=self._rng, on_injection=self._count_injection, async_sleep=self._sleep
        )

    def _count_injection(self, failure: str) -> None:
        self.metrics.chaos_injections.labels(failure).inc()

    def switch(self, version: str) -> str:
        """Serve `version` as the primary model from now on; returns the version it replaces."""
        available = self.artifacts.primary_versions
        if version not in available:
            raise UnknownModelVersion(version, available)
        previous = self.version
        self.primary = self._wrap(self.artifacts.models[version])
        self.version = version
        self.metrics.set_model((*available, self.artifacts.fallback_version), version)
        if previous and previous != version:
            log.warning("primary model switched from %s to %s", previous, version)
        return previous

    async def predict(self, request: PredictRequest) -> Prediction:
        lookup = await self.resolver.resolve(request.entity_id, request.overrides)
        values = lookup.values
        row = [values[name] for name in self._names]
        await self._sleep(self.service_time())
        reason = lookup.reason
        model: LinearClassifier = self._fallback
        if lookup.source != SOURCE_DEFAULTS:
            model = self.artifacts.models[self.version]
            try:
                proba = await self._primary(model, row)
            except TimeoutError:
                reason, model = REASON_MODEL_TIMEOUT, self._fallback
            except InjectedModelError:
                reason, model = REASON_MODEL_ERROR, self._fallback
            except Exception:
                log.exception("primary model %s failed; answering with the fallback model", model.version)
                reason, model = REASON_MODEL_ERROR, self._fallback
        if model is self._fallback:
            proba = self._fallback.probabilities(row)
        index = 1 if proba[1] > proba[0] else 0  # the first of equals, as argmax
        prediction = Prediction(
            entity_id=request.entity_id,
            prediction=model.classes[index],
            probability=proba[index],
            model_version=model.version,
            feature_source=lookup.source,
            fallback=reason is not None,
            fallback_reason=reason,
            degraded=model is self._fallback,
        )
        self._count(prediction)
        return prediction

    async def _primary(self, model: LinearClassifier, row: list[float]) -> tuple[float, float]:
        """The primary model's probabilities of its two classes, through the chaos wrapper.

        With chaos disabled the wrapper injects nothing, so the model is called directly: no
        arrays to build and no deadline to arm around a call that cannot wait.
        """
        if not self.chaos.enabled:
            return model.probabilities(row)
        async with asyncio.timeout(self.model_deadline):
            proba = (await self.primary.apredict_proba(np.array([row])))[0]
        return float(proba[0]), float(proba[1])

    def _count(self, p: Prediction) -> None:
        self.metrics.count_prediction(p.feature_source, p.prediction, p.model_version, p.fallback_reason)
