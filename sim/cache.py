"""The pods' feature caches, as the simulator follows them.

A pod caches the features of every entity it read from the store (`cache.ttl` long, refreshed on
every read); when the store is out of reach it answers from its cache if the entry is still fresh,
else with default features. A new container starts with an empty cache.

When the load says how many distinct entities it asks about (`load.entities`, each as likely), the
kernel and the reference model follow each pod's cache entity by entity, so the share of cached
answers comes out of the fault's timing: entries written before the store became unreachable expire
`ttl` after their last read, and a pod that sees an entity every few seconds has read almost all of
them recently. With more entities than `cache.maxEntries`, a least-recently-used cache under uniform
requests holds each entity with probability maxEntries / entities; the models apply that share on
top of freshness. Without `load.entities`, a lookup finds the features with probability
`cache.hitRate`.

The reference model keeps each pod's entries entity by entity. The kernel gets the same answer
without drawing an entity for every request: it keeps, per pod, the times of its live reads since the
container started, and a lookup asks when its entity was last read there. Each read was of that
entity with probability 1 / entities, independently, so the last read of it is a geometric number of
reads back (`reads_back_sampler`); fewer reads than that: never read. Per lookup this is exactly
the distribution of the entity-by-entity cache (lookups do not change the cache); only the
correlation between two lookups of one entity is not kept, which leaves every share as it is. The
kernel records a read when it processes the request (in send order), not at the read's exact moment;
the two differ only for reads a few milliseconds apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chaos.system import Load, SystemProfile


def cache_model(profile: SystemProfile, load: Load) -> tuple[bool, float, float]:
    """(follow entities, entry lifetime in seconds, share of entities an LRU cache holds)."""
    if load.entities <= 0:
        return False, profile.cache.ttl, 1.0
    return True, profile.cache.ttl, min(1.0, profile.cache.max_entries / load.entities)


def reads_back_sampler(rng: np.random.Generator, entities: int) -> Callable[[int], list[int]]:
    """How many reads back the last read of a lookup's entity is: geometric, p = 1 / entities, from a
    stream of its own (a child of `rng`: the other streams are drawn exactly as without it)."""
    child = rng.spawn(1)[0]
    return lambda n: child.geometric(1.0 / entities, size=n).tolist()


def entity_sampler(rng: np.random.Generator, entities: int) -> Callable[[int], list[int]]:
    """Uniform entity numbers from a stream of their own (a child of `rng`: the other streams are
    drawn exactly as without entities)."""
    child = rng.spawn(1)[0]
    return lambda n: child.integers(entities, size=n).tolist()
