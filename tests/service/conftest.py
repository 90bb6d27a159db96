"""Fixtures for the service tests: trained artifacts, a fake clock, a scriptable feature store, pods."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from chaos.model_chaos import ChaosConfig
from chaos.system import Distribution, SystemProfile, load_system_profile
from service.app import Pod
from service.artifacts import Artifacts, load_artifacts
from service.dataset import feature_names, load_dataset
from service.runtime import build_pod
from service.training import train

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "experiments" / "system.yaml"


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeStore:
    """A feature store in memory whose next calls can fail, hang or be slow (on the fake clock)."""

    def __init__(self, rows: dict[str, dict[str, float]], clock: FakeClock | None = None) -> None:
        self.rows = dict(rows)  # tests replace entries; the session data set stays intact
        self.clock = clock
        self.calls = 0
        self.error: BaseException | None = None
        self.hang = False
        self.latency = 0.0
        self.closed = False

    async def fetch(self, entity_id: str) -> dict[str, float] | None:
        self.calls += 1
        if self.clock is not None:
            self.clock.advance(self.latency)
        if self.hang:
            await asyncio.Event().wait()  # never set: only a timeout or cancellation ends this call
        if self.error is not None:
            raise self.error
        row = self.rows.get(entity_id)
        return dict(row) if row is not None else None

    async def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("artifacts")
    train(directory)
    return directory


@pytest.fixture(scope="session")
def artifacts(artifacts_dir: Path) -> Artifacts:
    return load_artifacts(artifacts_dir)


@pytest.fixture(scope="session")
def dataset_rows() -> dict[str, dict[str, float]]:
    ids, features, _ = load_dataset()
    names = feature_names()
    return {i: dict(zip(names, map(float, row), strict=True)) for i, row in zip(ids, features, strict=True)}


@pytest.fixture
def profile() -> SystemProfile:
    """The project's system profile with a zero service time (tests do not wait for the model)."""
    base = load_system_profile(PROFILE)
    service = dataclasses.replace(base.service, service_time=Distribution("constant", 0.0, 0.0))
    return dataclasses.replace(base, service=service)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(dataset_rows: dict[str, dict[str, float]], clock: FakeClock) -> FakeStore:
    return FakeStore(dataset_rows, clock)


@pytest.fixture
def make_pod(
    profile: SystemProfile, artifacts: Artifacts, store: FakeStore, clock: FakeClock
) -> Iterator[PodFactory]:
    yield PodFactory(profile, artifacts, store, clock)


@dataclasses.dataclass
class PodFactory:
    profile: SystemProfile
    artifacts: Artifacts
    store: FakeStore
    clock: FakeClock

    def __call__(
        self,
        chaos: ChaosConfig | None = None,
        *,
        profile: SystemProfile | None = None,
        admin_token: str | None = None,
        seed: int = 7,
    ) -> Pod:
        return build_pod(
            "pod-test",
            profile or self.profile,
            self.artifacts,
            self.store,
            chaos or ChaosConfig(enabled=False),
            seed=seed,
            admin_token=admin_token,
            clock=self.clock,
        )


def entity_vector(rows: dict[str, dict[str, float]], entity_id: str) -> np.ndarray:
    return np.array([[rows[entity_id][n] for n in feature_names()]])
