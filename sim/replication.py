"""One replication: play the timeline, push the requests through it, and summarise."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chaos.system import SystemProfile
from sim.kernel import run_requests
from sim.result import Replication, summarise
from sim.scenario import Scenario
from sim.timeline import play_timeline
from sim.trace import Trace


def simulate(
    profile: SystemProfile,
    scenario: Scenario,
    rng: np.random.Generator,
    offsets: Sequence[float] | None = None,
) -> Trace:
    """Every request attempt of one replication (`offsets`: readiness-check phases, default random)."""
    timeline = play_timeline(profile, scenario, rng, offsets)
    return run_requests(profile, scenario, timeline, rng)


def run_replication(
    profile: SystemProfile, scenario: Scenario, seed: np.random.SeedSequence | int
) -> Replication:
    """One replication from its own seed, summarised (what the Monte Carlo workers return)."""
    rng = np.random.default_rng(seed)
    trace = simulate(profile, scenario, rng)
    return summarise(profile, scenario, trace, rng)
