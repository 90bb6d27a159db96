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

The kernel writes an entry when it processes the request that read it (in send order) rather than
at the read's exact moment; two reads of one entity on one pod a few milliseconds apart are the only
case where that differs.
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


def entity_sampler(rng: np.random.Generator, entities: int) -> Callable[[int], list[int]]:
    """Uniform entity numbers from a stream of their own (a child of `rng`: the other streams are
    drawn exactly as without entities)."""
    child = rng.spawn(1)[0]
    return lambda n: child.integers(entities, size=n).tolist()
