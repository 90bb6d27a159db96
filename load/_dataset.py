"""The entities the load asks about and their true labels, from the data set the service serves.

The service predicts on scikit-learn's bundled breast-cancer data set; an entity id is a row index
as a string. The labels stay on the client side: the load generator judges every prediction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Entities:
    ids: tuple[str, ...]
    labels: dict[str, int]

    def label(self, entity_id: str) -> int | None:
        return self.labels.get(entity_id)


@functools.cache
def load_entities() -> Entities:
    """Every row of the data set as (entity id, label); read once per process."""
    from sklearn.datasets import load_breast_cancer

    target = load_breast_cancer().target
    ids = tuple(str(i) for i in range(len(target)))
    return Entities(ids, {entity_id: int(label) for entity_id, label in zip(ids, target, strict=True)})
