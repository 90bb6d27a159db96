"""In-app model chaos: rates, the 5:2:1 mix, configuration from the environment, each fault's effect."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random

import numpy as np
import pytest

from chaos.model_chaos import (
    EXCEPTION,
    FAILURE_TYPES,
    TIMEOUT,
    WRONG_PREDICTION,
    ChaosConfig,
    ChaosConfigError,
    ChaosModelWrapper,
    InjectedModelError,
    InjectedTimeout,
    seed_from_env,
)


class ThresholdModel:
    """predict: x > 0 -> 1; predict_proba follows."""

    classes_ = np.array([0, 1])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X)[:, 0] > 0).astype(int)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p1 = np.where(np.asarray(X)[:, 0] > 0, 0.9, 0.2)
        return np.column_stack([1 - p1, p1])


class Scripted:
    """A random source that returns the given draws in order."""

    def __init__(self, *draws: float) -> None:
        self.draws = list(draws)

    def random(self) -> float:
        return self.draws.pop(0)


X = np.array([[1.0], [-1.0]])
CALLS = 40_000
SIGMAS = 5.0  # a count outside mean +- 5 sigma has probability < 1e-6


def _binomial_bounds(n: int, p: float) -> tuple[float, float]:
    sd = math.sqrt(n * p * (1 - p))
    return n * p - SIGMAS * sd, n * p + SIGMAS * sd


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_default_rates_hold_within_binomial_bounds(seed: int) -> None:
    sleeps: list[float] = []
    wrapper = ChaosModelWrapper(
        ThresholdModel(), ChaosConfig(enabled=True), rng=random.Random(seed), sleep=sleeps.append
    )
    for _ in range(CALLS):
        with contextlib.suppress(InjectedModelError, InjectedTimeout):
            wrapper.predict(X)
    expected = {EXCEPTION: 0.05, TIMEOUT: 0.02, WRONG_PREDICTION: 0.01}
    for failure, rate in expected.items():
        low, high = _binomial_bounds(CALLS, rate)
        assert low <= wrapper.injections[failure] <= high, (failure, wrapper.injections)
    assert len(sleeps) == wrapper.injections[TIMEOUT]


def test_total_rate_keeps_the_5_2_1_mix() -> None:
    config = ChaosConfig.from_env({"CHAOS_ENABLED": "true", "CHAOS_FAILURE_RATE": "0.05"})
    assert config.enabled
    assert config.exception_rate == pytest.approx(0.05 * 5 / 8)
    assert config.timeout_rate == pytest.approx(0.05 * 2 / 8)
    assert config.wrong_prediction_rate == pytest.approx(0.05 * 1 / 8)
    wrapper = ChaosModelWrapper(ThresholdModel(), config, rng=random.Random(11), sleep=lambda s: None)
    for _ in range(CALLS):
        with contextlib.suppress(InjectedModelError, InjectedTimeout):
            wrapper.predict(X)
    low, high = _binomial_bounds(CALLS, 0.05)
    assert low <= sum(wrapper.injections.values()) <= high


def test_per_type_rates_override_and_share_the_rest_of_the_total() -> None:
    config = ChaosConfig.from_env(
        {"CHAOS_ENABLED": "1", "CHAOS_FAILURE_RATE": "0.1", "CHAOS_TIMEOUT_RATE": "0.04"}
    )
    assert config.timeout_rate == pytest.approx(0.04)
    assert config.exception_rate == pytest.approx(0.06 * 5 / 6)
    assert config.wrong_prediction_rate == pytest.approx(0.06 * 1 / 6)
    only_types = ChaosConfig.from_env({"CHAOS_EXCEPTION_RATE": "0.2"})
    assert only_types.rates == {EXCEPTION: 0.2, TIMEOUT: 0.02, WRONG_PREDICTION: 0.01}
    assert not only_types.enabled


def test_zero_base_rates_fall_back_to_the_default_mix() -> None:
    base = ChaosConfig(enabled=True, exception_rate=0, timeout_rate=0, wrong_prediction_rate=0)
    assert base.with_total_rate(0.08).rates == pytest.approx(
        {EXCEPTION: 0.05, TIMEOUT: 0.02, WRONG_PREDICTION: 0.01}
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CHAOS_ENABLED": "maybe"}, "CHAOS_ENABLED='maybe'"),
        ({"CHAOS_FAILURE_RATE": "lots"}, "CHAOS_FAILURE_RATE='lots'"),
        ({"CHAOS_FAILURE_RATE": "1.5"}, "CHAOS_FAILURE_RATE='1.5'"),
        ({"CHAOS_TIMEOUT_RATE": "-0.1"}, "CHAOS_TIMEOUT_RATE='-0.1'"),
        ({"CHAOS_FAILURE_RATE": "0.01", "CHAOS_EXCEPTION_RATE": "0.05"}, "CHAOS_EXCEPTION_RATE"),
        ({"CHAOS_EXCEPTION_RATE": "0.6", "CHAOS_TIMEOUT_RATE": "0.6"}, "add up to"),
    ],
)
def test_impossible_environment_values_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ChaosConfigError) as err:
        ChaosConfig.from_env(env)
    assert named in str(err.value)


def test_seed_from_env() -> None:
    assert seed_from_env({}) is None
    assert seed_from_env({"CHAOS_SEED": "42"}) == 42
    with pytest.raises(ChaosConfigError, match="CHAOS_SEED='x'"):
        seed_from_env({"CHAOS_SEED": "x"})


def test_disabled_wrapper_never_injects_nor_draws() -> None:
    wrapper = ChaosModelWrapper(ThresholdModel(), ChaosConfig(enabled=False), rng=Scripted())
    for _ in range(100):
        assert list(wrapper.predict(X)) == [1, 0]
    assert wrapper.injections == dict.fromkeys(FAILURE_TYPES, 0)


def test_decision_and_type_draws() -> None:
    config = ChaosConfig(enabled=True)  # 0.05 / 0.02 / 0.01, total 0.08
    wrapper = ChaosModelWrapper(ThresholdModel(), config, rng=Scripted(0.079, 0.08))
    assert wrapper._should_inject_chaos()
    assert not wrapper._should_inject_chaos()
    # the type draw is scaled by the total: [0, 5/8) exception, [5/8, 7/8) timeout, [7/8, 1) wrong
    typed = ChaosModelWrapper(ThresholdModel(), config, rng=Scripted(0.0, 0.62, 0.63, 0.87, 0.88, 0.999))
    assert [typed._get_failure_type() for _ in range(6)] == [
        EXCEPTION, EXCEPTION, TIMEOUT, TIMEOUT, WRONG_PREDICTION, WRONG_PREDICTION,
    ]  # fmt: skip


def test_injected_exception_is_raised_and_counted() -> None:
    seen: list[str] = []
    wrapper = ChaosModelWrapper(
        ThresholdModel(), ChaosConfig(enabled=True), rng=Scripted(0.0, 0.0), on_injection=seen.append
    )
    with pytest.raises(InjectedModelError):
        wrapper.predict(X)
    assert seen == [EXCEPTION]
    assert wrapper.injections[EXCEPTION] == 1


def test_injected_timeout_hangs_then_raises() -> None:
    sleeps: list[float] = []
    config = ChaosConfig(enabled=True, hang_seconds=12.0)
    wrapper = ChaosModelWrapper(ThresholdModel(), config, rng=Scripted(0.0, 0.7), sleep=sleeps.append)
    with pytest.raises(InjectedTimeout):
        wrapper.predict_proba(X)
    assert sleeps == [12.0]


def test_async_injected_timeout_is_cut_by_the_callers_deadline() -> None:
    wrapper = ChaosModelWrapper(ThresholdModel(), ChaosConfig(enabled=True), rng=Scripted(0.0, 0.7))

    async def call() -> None:
        await asyncio.wait_for(wrapper.apredict(X), timeout=0.01)

    with pytest.raises(TimeoutError) as err:
        asyncio.run(call())
    assert not isinstance(err.value, InjectedTimeout)  # the caller's deadline ended it, not the hang
    assert wrapper.injections[TIMEOUT] == 1


def test_wrong_prediction_flips_labels_and_probabilities() -> None:
    model = ThresholdModel()
    wrapper = ChaosModelWrapper(model, ChaosConfig(enabled=True), rng=Scripted(0.0, 0.95, 0.0, 0.95))
    assert list(wrapper.predict(X)) == [0, 1]
    proba = wrapper.predict_proba(X)
    assert np.allclose(proba, model.predict_proba(X)[:, ::-1])
    assert wrapper.injections[WRONG_PREDICTION] == 2


def test_async_calls_without_chaos_return_the_models_answer() -> None:
    wrapper = ChaosModelWrapper(ThresholdModel(), ChaosConfig(enabled=True), rng=Scripted(0.5, 0.5))
    assert list(asyncio.run(wrapper.apredict(X))) == [1, 0]
    assert np.allclose(asyncio.run(wrapper.apredict_proba(X)), ThresholdModel().predict_proba(X))


def test_config_validation_names_the_value() -> None:
    with pytest.raises(ChaosConfigError, match=r"exception_rate=1\.5"):
        ChaosConfig(exception_rate=1.5)
    with pytest.raises(ChaosConfigError, match="add up to"):
        ChaosConfig(exception_rate=0.5, timeout_rate=0.4, wrong_prediction_rate=0.2)
    with pytest.raises(ChaosConfigError, match="hang_seconds=0"):
        ChaosConfig(hang_seconds=0)
