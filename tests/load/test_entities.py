"""The entities the load asks about are the ones the system profile tells the simulator about."""

from __future__ import annotations

from pathlib import Path

from chaos.system import load_system_profile
from load._dataset import load_entities


def test_the_profile_states_how_many_entities_the_load_asks_about(repo_root: Path) -> None:
    profile = load_system_profile(repo_root / "experiments" / "system.yaml")
    assert profile.load.entities == len(load_entities().ids)
