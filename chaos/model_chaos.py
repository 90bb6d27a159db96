"""In-app fault injection for an ML model: random exceptions, hung calls and wrong predictions.

`ChaosModelWrapper(model, chaos_config)` sits between a service and its model. On each call it decides
(`_should_inject_chaos`) whether to inject a fault and which one (`_get_failure_type`), with rates
that default to 5 % exceptions, 2 % timeouts and 1 % wrong predictions. A service switches it on with
`CHAOS_ENABLED=true` and sets the total rate with `CHAOS_FAILURE_RATE`, which keeps the 5:2:1 mix
unless per-type rates are given (`ChaosConfig.from_env`).

The wrapper only injects; answering the fault is the caller's job. An injected exception is raised as
`InjectedModelError`; an injected timeout hangs for `hang_seconds` (with an injectable sleep) and then
raises `InjectedTimeout`, so a caller that enforces its own deadline cuts the hang short. A wrong
prediction returns another class (and the matching probabilities), silently, as a bad model would.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from chaos.errors import ChaosLabError
from chaos.system import ModelChaos

log = logging.getLogger(__name__)

EXCEPTION = "exception"
TIMEOUT = "timeout"
WRONG_PREDICTION = "wrong_prediction"
FAILURE_TYPES = (EXCEPTION, TIMEOUT, WRONG_PREDICTION)
DEFAULT_MIX = {EXCEPTION: 5.0, TIMEOUT: 2.0, WRONG_PREDICTION: 1.0}
DEFAULT_HANG_SECONDS = 30.0

ENV_ENABLED = "CHAOS_ENABLED"
ENV_FAILURE_RATE = "CHAOS_FAILURE_RATE"
ENV_TYPE_RATES = {
    EXCEPTION: "CHAOS_EXCEPTION_RATE",
    TIMEOUT: "CHAOS_TIMEOUT_RATE",
    WRONG_PREDICTION: "CHAOS_WRONG_PREDICTION_RATE",
}
ENV_SEED = "CHAOS_SEED"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_RATE_SLACK = 1e-9


class ChaosConfigError(ChaosLabError):
    """A model-chaos setting (usually an environment variable) has an impossible value."""

    hint = "rates are fractions in [0, 1] whose sum is at most 1; CHAOS_ENABLED is true or false"


class ModelChaosError(ChaosLabError):
    """Root of the faults the wrapper injects."""


class InjectedModelError(ModelChaosError):
    """An injected model exception."""


class InjectedTimeout(ModelChaosError, TimeoutError):
    """An injected model call that hung for `hang_seconds` without an answer."""


class UniformSource(Protocol):
    """Anything with `random() -> float` in [0, 1): `random.Random`, `numpy.random.Generator`."""

    def random(self) -> float: ...


@dataclass(frozen=True)
class ChaosConfig:
    """Which faults to inject and how often; rates are per call and add up to the total rate."""

    enabled: bool = False
    exception_rate: float = 0.05
    timeout_rate: float = 0.02
    wrong_prediction_rate: float = 0.01
    hang_seconds: float = DEFAULT_HANG_SECONDS

    def __post_init__(self) -> None:
        for name, rate in self.rates.items():
            if not 0.0 <= rate <= 1.0 or math.isnan(rate):
                raise ChaosConfigError(f"{name}_rate={rate} must be in [0, 1]")
        if self.total_rate > 1.0 + _RATE_SLACK:
            raise ChaosConfigError(f"rates {self.rates} add up to {self.total_rate:g}, more than 1")
        if not self.hang_seconds > 0:
            raise ChaosConfigError(f"hang_seconds={self.hang_seconds} must be > 0")

    @property
    def rates(self) -> dict[str, float]:
        return {
            EXCEPTION: self.exception_rate,
            TIMEOUT: self.timeout_rate,
            WRONG_PREDICTION: self.wrong_prediction_rate,
        }

    @property
    def total_rate(self) -> float:
        return self.exception_rate + self.timeout_rate + self.wrong_prediction_rate

    def with_total_rate(self, total: float) -> ChaosConfig:
        """The same mix of fault types scaled to `total` (the default 5:2:1 mix when all rates are 0)."""
        return self.with_rates(total, {})

    def with_rates(self, total: float | None, fixed: Mapping[str, float]) -> ChaosConfig:
        """Rates with `fixed` ones as given and the others sharing `total - sum(fixed)` in this mix."""
        unknown = set(fixed) - set(FAILURE_TYPES)
        if unknown:
            raise ChaosConfigError(f"failure types {sorted(unknown)} are not among {FAILURE_TYPES}")
        rates = dict(self.rates) | dict(fixed)
        free = [name for name in FAILURE_TYPES if name not in fixed]
        if total is not None:
            if not 0.0 <= total <= 1.0:
                raise ChaosConfigError(f"total failure rate {total} must be in [0, 1]")
            left = total - sum(fixed.values())
            if left < -_RATE_SLACK or (not free and abs(left) > _RATE_SLACK):
                raise ChaosConfigError(
                    f"per-type rates {dict(fixed)} do not add up to the total failure rate {total}"
                )
            mix = {name: self.rates[name] for name in free}
            if sum(mix.values()) <= 0:
                mix = {name: DEFAULT_MIX[name] for name in free}
            weight = sum(mix.values())
            for name in free:
                rates[name] = max(left, 0.0) * mix[name] / weight if weight else 0.0
        return replace(
            self,
            exception_rate=rates[EXCEPTION],
            timeout_rate=rates[TIMEOUT],
            wrong_prediction_rate=rates[WRONG_PREDICTION],
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str], base: ChaosConfig | None = None) -> ChaosConfig:
        """`base` (default rates when None) overridden by CHAOS_ENABLED, CHAOS_FAILURE_RATE and
        CHAOS_EXCEPTION_RATE / CHAOS_TIMEOUT_RATE / CHAOS_WRONG_PREDICTION_RATE."""
        config = base or cls()
        if ENV_ENABLED in env:
            config = replace(config, enabled=_env_bool(env, ENV_ENABLED))
        total = _env_rate(env, ENV_FAILURE_RATE) if ENV_FAILURE_RATE in env else None
        fixed = {name: _env_rate(env, var) for name, var in ENV_TYPE_RATES.items() if var in env}
        if total is None and not fixed:
            return config
        try:
            return config.with_rates(total, fixed)
        except ChaosConfigError as exc:
            given = {var: env[var] for var in (ENV_FAILURE_RATE, *ENV_TYPE_RATES.values()) if var in env}
            raise ChaosConfigError(f"environment {given}: {exc}") from exc


def profile_config(profile_chaos: ModelChaos, env: Mapping[str, str]) -> ChaosConfig:
    """A system profile's modelChaos section as a ChaosConfig, overridden by CHAOS_* variables."""
    base = ChaosConfig(
        enabled=profile_chaos.enabled,
        exception_rate=profile_chaos.exception_rate,
        timeout_rate=profile_chaos.timeout_rate,
        wrong_prediction_rate=profile_chaos.wrong_prediction_rate,
    )
    return ChaosConfig.from_env(env, base)


def seed_from_env(env: Mapping[str, str]) -> int | None:
    """CHAOS_SEED as an integer (None when unset), so a pod's injections can be replayed."""
    if ENV_SEED not in env:
        return None
    try:
        return int(env[ENV_SEED])
    except ValueError:
        raise ChaosConfigError(f"{ENV_SEED}={env[ENV_SEED]!r} must be a whole number") from None


def _env_bool(env: Mapping[str, str], name: str) -> bool:
    text = env[name].strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ChaosConfigError(f"{name}={env[name]!r} must be true or false")


def _env_rate(env: Mapping[str, str], name: str) -> float:
    try:
        value = float(env[name])
    except ValueError:
        raise ChaosConfigError(f"{name}={env[name]!r} must be a number in [0, 1]") from None
    if not 0.0 <= value <= 1.0:
        raise ChaosConfigError(f"{name}={env[name]!r} must be a number in [0, 1]")
    return value


class ChaosModelWrapper:
    """A model whose calls fail, hang or lie at the configured rates; one decision per call.

    `model` needs `predict(X)`; `predict_proba(X)` is used when the caller asks for probabilities.
    `on_injection(failure_type)` is called for every injected fault (the service counts them in a
    Prometheus counter); `injections` keeps the same counts in the wrapper.
    """

    def __init__(
        self,
        model: Any,
        chaos_config: ChaosConfig | None = None,
        *,
        rng: UniformSource | None = None,
        on_injection: Callable[[str], None] | None = None,
        sleep: Callable[[float], object] = time.sleep,
        async_sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.model = model
        self.config = chaos_config or ChaosConfig()
        self.rng: UniformSource = rng if rng is not None else random.Random()
        self.on_injection = on_injection
        self._sleep = sleep
        self._async_sleep = async_sleep
        self.injections: dict[str, int] = dict.fromkeys(FAILURE_TYPES, 0)

    # -- the decision ------------------------------------------------------------------------
    def _should_inject_chaos(self) -> bool:
        """True with probability `total_rate` when chaos is enabled (one draw)."""
        if not self.config.enabled or self.config.total_rate <= 0:
            return False
        return self.rng.random() < self.config.total_rate

    def _get_failure_type(self) -> str:
        """Which fault to inject, drawn in proportion to the per-type rates (one draw)."""
        rates = self.config.rates
        total = sum(rates.values())
        draw = self.rng.random() * total
        for name in FAILURE_TYPES:
            draw -= rates[name]
            if draw < 0:
                return name
        return next(name for name in reversed(FAILURE_TYPES) if rates[name] > 0)

    def _decide(self) -> str | None:
        if not self._should_inject_chaos():
            return None
        failure = self._get_failure_type()
        self.injections[failure] += 1
        log.debug("injecting model chaos: %s", failure)
        if self.on_injection is not None:
            self.on_injection(failure)
        return failure

    # -- calls -------------------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        failure = self._decide()
        self._raise_sync(failure)
        labels = np.asarray(self.model.predict(X))
        return self._wrong_labels(labels) if failure == WRONG_PREDICTION else labels

    def predict_proba(self, X: Any) -> np.ndarray:
        failure = self._decide()
        self._raise_sync(failure)
        proba = np.asarray(self.model.predict_proba(X))
        return self._wrong_proba(proba) if failure == WRONG_PREDICTION else proba

    async def apredict(self, X: Any) -> np.ndarray:
        """`predict` for an event loop: an injected hang awaits instead of blocking the thread."""
        failure = self._decide()
        await self._raise_async(failure)
        labels = np.asarray(self.model.predict(X))
        return self._wrong_labels(labels) if failure == WRONG_PREDICTION else labels

    async def apredict_proba(self, X: Any) -> np.ndarray:
        failure = self._decide()
        await self._raise_async(failure)
        proba = np.asarray(self.model.predict_proba(X))
        return self._wrong_proba(proba) if failure == WRONG_PREDICTION else proba

    def _raise_sync(self, failure: str | None) -> None:
        if failure == EXCEPTION:
            raise InjectedModelError("injected model exception")
        if failure == TIMEOUT:
            self._sleep(self.config.hang_seconds)
            raise InjectedTimeout(f"injected model timeout after {self.config.hang_seconds:g} s")

    async def _raise_async(self, failure: str | None) -> None:
        if failure == EXCEPTION:
            raise InjectedModelError("injected model exception")
        if failure == TIMEOUT:
            await self._async_sleep(self.config.hang_seconds)
            raise InjectedTimeout(f"injected model timeout after {self.config.hang_seconds:g} s")

    # -- wrong answers -----------------------------------------------------------------------
    def _classes(self) -> np.ndarray:
        classes = getattr(self.model, "classes_", None)
        return np.asarray(classes) if classes is not None else np.array([0, 1])

    def _wrong_labels(self, labels: np.ndarray) -> np.ndarray:
        """Each label replaced by the next class of the model (cyclically): always a wrong class."""
        classes = self._classes()
        index = np.searchsorted(classes, labels)
        return np.asarray(classes[(index + 1) % len(classes)])

    def _wrong_proba(self, proba: np.ndarray) -> np.ndarray:
        """Probabilities rolled by one class, so the most likely class is a wrong one."""
        return np.roll(proba, 1, axis=-1)
