"""The pods' feature caches followed entity by entity: entries live `ttl` after their last read, a new
container starts empty, an LRU cache smaller than the entities holds its share of them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from chaos.system import Cache, Load, SystemProfile
from sim import outcomes as oc
from sim.cache import cache_model
from sim.reference import simulate_reference
from sim.replication import simulate
from sim.scenario import PodFault, StoreFault
from sim.trace import Trace
from tests.sim.builders import profile, run_for

Model = Callable[..., Trace]


def one_entity() -> SystemProfile:
    """One pod, one user asking about one entity twice a second; entries live 5 s."""
    base = profile(replicas=1, users=1, rps=2.0, cache=Cache(ttl=5.0, max_entries=100, hit_rate=0.0))
    return replace(base, load=Load(rps=2.0, users=1, entities=1))


def features_at(trace: Trace) -> dict[float, int]:
    ok = oc.status(trace.code) == oc.OK
    return dict(zip(trace.send[ok].tolist(), oc.features(trace.code[ok]).tolist(), strict=True))


@pytest.mark.parametrize("model", [simulate, simulate_reference])
def test_an_entry_serves_until_its_lifetime_after_the_last_read(model: Model) -> None:
    # partition from 10 s: the last read was at 9.5 s, so the entry is good until 14.5 s
    scenario = run_for(20.0, store_faults=(StoreFault("partition", 10.0, None),))
    trace = model(one_entity(), scenario, np.random.default_rng(1), [0.5])
    seen = features_at(trace)
    assert sorted(seen) == [k / 2 for k in range(40)]  # every request answered, twice a second
    # from the store until 9.5 s; from the cache for the requests sent until 14.0 s (looked up
    # after the 0.1 s call timeout, so before 14.5 s); defaults from the one sent at 14.5 s on
    assert [seen[t] for t in sorted(seen)] == [oc.LIVE] * 20 + [oc.CACHE] * 9 + [oc.DEFAULT] * 11


@pytest.mark.parametrize("model", [simulate, simulate_reference])
def test_a_new_container_starts_with_an_empty_cache(model: Model) -> None:
    # the container restarts at 12 s, in the partition: its cache never had the entity
    scenario = run_for(
        20.0,
        store_faults=(StoreFault("partition", 10.0, None),),
        pod_faults=(PodFault("container-kill", 12.0, None, "all"),),
    )
    trace = model(one_entity(), scenario, np.random.default_rng(1), [0.5])
    seen = features_at(trace)
    assert seen[10.0] == oc.CACHE and seen[11.5] == oc.CACHE
    after = [f for t, f in seen.items() if t > 12.0]
    assert after and all(f == oc.DEFAULT for f in after)


def test_a_cache_smaller_than_the_entities_holds_its_share() -> None:
    base = profile(replicas=2, users=20, rps=200.0, cache=Cache(ttl=600.0, max_entries=50, hit_rate=0.0))
    prof = replace(base, load=Load(rps=200.0, users=20, entities=200))
    scenario = run_for(60.0, store_faults=(StoreFault("partition", 30.0, None),))
    trace = simulate(prof, scenario, np.random.default_rng(4), [0.5, 0.5])
    ok = (oc.status(trace.code) == oc.OK) & (trace.send >= 31.0)
    cached = (oc.features(trace.code[ok]) == oc.CACHE).mean()
    assert cached == pytest.approx(50 / 200, abs=0.02)
    assert cache_model(prof, prof.load) == (True, 600.0, 0.25)


def test_without_entities_a_lookup_finds_the_features_at_the_hit_rate() -> None:
    prof = profile(replicas=2, users=20, rps=200.0, cache=Cache(hit_rate=0.7))
    assert not cache_model(prof, prof.load)[0]
    scenario = run_for(40.0, store_faults=(StoreFault("partition", 10.0, None),))
    trace = simulate(prof, scenario, np.random.default_rng(5), [0.5, 0.5])
    ok = (oc.status(trace.code) == oc.OK) & (trace.send >= 11.0)
    assert (oc.features(trace.code[ok]) == oc.CACHE).mean() == pytest.approx(0.7, abs=0.02)


def test_warm_caches_expire_over_the_spread_of_last_reads() -> None:
    # 10 pods, 200 req/s over 569 entities: a pod reads an entity every 28 s on average, so when the
    # store goes for good the entries run out over the last ~28 s of their 5 m lifetime
    base = profile(replicas=10, users=40, rps=200.0, cache=Cache(ttl=300.0, max_entries=10_000))
    prof = replace(base, load=Load(rps=200.0, users=40, entities=569))
    scenario = run_for(460.0, store_faults=(StoreFault("partition", 120.0, None),))
    trace = simulate(prof, scenario, np.random.default_rng(6), [0.5] * 10)
    ok = (oc.status(trace.code) == oc.OK) & (trace.send >= 120.2) & (trace.send < 420.0)
    cached = (oc.features(trace.code[ok]) == oc.CACHE).mean()
    per_entity = 200.0 / 10 / 569
    expected = 1 - (1 - math.exp(-per_entity * 300.0)) / (per_entity * 300.0)  # mean over the window
    assert cached == pytest.approx(expected, abs=0.01)
