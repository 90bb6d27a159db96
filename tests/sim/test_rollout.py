"""Rollouts in the simulator: the Deployment controller's RollingUpdate and the new pods' template."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from chaos.system import Lifecycle, ModelChaos, ModelQuality, RolloutStrategy, SystemProfile
from sim import outcomes as oc
from sim.kernel import run_requests
from sim.result import summarise
from sim.scenario import RolloutFault, Scenario, Template
from sim.timeline import play_timeline
from tests.sim.builders import profile, three_phases

LIFE = Lifecycle(schedule_delay=1.0, startup_time=4.0, restart_backoff=10.0, restart_backoff_max=300.0)


SURGE = RolloutStrategy("25%", "0")
OLD_SERVES = 7 * (1 + 0.7 + 0.4 + 0.1)
"""Seconds' worth of a rollout's traffic that ten pods' old revision serves (batches of 3, 7 s each)."""


def ten_pods(strategy: RolloutStrategy = SURGE, **parts: Any) -> SystemProfile:
    base = profile(replicas=10, users=20, rps=100.0, service=0.03, lifecycle=LIFE, **parts)
    return replace(base, service=replace(base.service, strategy=strategy))


def rollout(template: Template, start: float = 30.0, duration: float | None = 100.0) -> Scenario:
    return three_phases(30.0, 120.0, 60.0, rollouts=(RolloutFault(start, template, duration),))


def test_a_rollout_keeps_every_replica_ready_and_surges_by_max_surge() -> None:
    p, s = ten_pods(), rollout(Template(model_version="v2"))
    timeline = play_timeline(p, s, np.random.default_rng(1))
    assert timeline.surge == 6 and timeline.slots == 16  # 3 surge pods and 3 still terminating
    times, counts = timeline.ready_steps()
    assert counts.min() == 10 and counts.max() <= 13
    templates = [e for e in timeline.events if e.kind == "pod-template"]
    assert sum(1 for e in templates if e.detail == "1") == 10  # every pod replaced once ...
    assert sum(1 for e in templates if e.detail == "0") == 10  # ... and once more by the rollback
    last = max(t for t, c in zip(times, counts, strict=True))
    assert 130.0 < last < 130.0 + 60.0 and counts[-1] == 10  # rolled back within the recovery phase


def test_the_next_batch_is_created_as_the_last_one_is_ready() -> None:
    """The controller syncs on its own scale-down: the old pods it deletes still terminate, count
    for nothing, and the next batch starts at once, not when they have drained."""
    p, s = ten_pods(), rollout(Template(model_version="v2"), duration=None)
    timeline = play_timeline(p, s, np.random.default_rng(5))
    created = sorted({e.time for e in timeline.events if e.kind == "pod-template" and e.detail == "1"})
    ready = sorted({e.time for e in timeline.events if e.kind == "pod-ready" and e.time > 30.0})
    assert created == pytest.approx([30.0, 37.0, 44.0, 51.0])  # batches of 3, 3, 3, 1, 7 s each
    assert ready == pytest.approx([37.0, 44.0, 51.0, 58.0])


def test_max_unavailable_takes_pods_away_before_new_ones_are_ready() -> None:
    p = ten_pods(RolloutStrategy("0", "20%"))
    timeline = play_timeline(p, rollout(Template(model_version="v2")), np.random.default_rng(2))
    _, counts = timeline.ready_steps()
    assert timeline.surge == 2 and counts.min() == 8  # two at a time, never more


def test_a_rollout_drops_no_request() -> None:
    p, s = ten_pods(), rollout(Template(model_version="v2"))
    rng = np.random.default_rng(3)
    trace = run_requests(p, s, play_timeline(p, s, rng), rng)
    assert (oc.status(trace.code) == oc.OK).all()


def test_the_chaotic_template_fails_its_share_of_model_calls_on_the_new_pods_only() -> None:
    chaotic = ModelChaos(enabled=True, exception_rate=0.1, timeout_rate=0.04, wrong_prediction_rate=0.02)
    p = ten_pods()
    s = rollout(Template(model_chaos=chaotic), duration=None)
    rng = np.random.default_rng(4)
    summary = summarise(p, s, run_requests(p, s, play_timeline(p, s, rng), rng))
    baseline, chaos = summary.phases[0].values, summary.phases[1].values
    assert baseline["fallback_share"] == 0.0
    # a batch of 3 new pods is ready 7 s after it is created (1 s scheduling, ready on the kubelet's
    # probe 6 s after its container started), so the old pods serve 7 + 0.7 * 7 + 0.4 * 7 + 0.1 * 7
    # = 15.4 s worth of the chaos phase; after that every call has a 14 % chance to go to the fallback
    assert chaos["fallback_share"] == pytest.approx(0.14 * (1 - OLD_SERVES / 120), abs=0.012)


def test_the_rolled_out_version_answers_with_its_own_wrong_share() -> None:
    quality = ModelQuality(primary=0.01, versions={"v3-bad": 0.9})
    p = ten_pods(model_quality=quality)
    s = rollout(Template(model_version="v3-bad"), duration=None)
    rng = np.random.default_rng(5)
    summary = summarise(p, s, run_requests(p, s, play_timeline(p, s, rng), rng))
    baseline, chaos = summary.phases[0].values, summary.phases[1].values
    assert baseline["wrong_rate"] == pytest.approx(0.01)
    assert chaos["wrong_rate"] == pytest.approx(0.9 - (0.9 - 0.01) * OLD_SERVES / 120, abs=0.03)
