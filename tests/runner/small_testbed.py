"""A small testbed of the e2e tests' own: started from a profile in a folder, stopped after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from testbed import lifecycle
from testbed.client import TestbedClient
from testbed.config import Overrides
from testbed.rundir import RunDir


@contextmanager
def small_testbed(folder: Path, factory: pytest.TempPathFactory, seed: int) -> Iterator[TestbedClient]:
    """The testbed of `folder/system.yaml` (alerts with `for: 1s`), in `folder/testbed`."""
    run_dir = RunDir(folder / "testbed")
    options = lifecycle.UpOptions(
        profile=folder / "system.yaml",
        overrides=Overrides(alert_for=1.0),
        artifacts=factory.mktemp("artifacts"),
        seed=seed,
    )
    lifecycle.start(run_dir, options)
    try:
        with TestbedClient(run_dir) as client:
            yield client
    finally:
        lifecycle.stop(run_dir)
