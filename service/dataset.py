"""The data set behind the service: scikit-learn's bundled breast cancer data (no download).

One row per entity; the entity id is the row index as a string ("0".."568"). The model is trained
on it, the feature store is loaded from it and the load generator picks entity ids from it, all
through `load_dataset`. Labels: 0 = malignant, 1 = benign. Feature names are sklearn's, in
snake_case ("mean radius" -> "mean_radius"), because they travel as JSON keys and Redis hash fields.
"""

from __future__ import annotations

from functools import cache

import numpy as np

DATASET_NAME = "sklearn.datasets.load_breast_cancer"


@cache
def _bundle() -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer  # imported here: sklearn takes a second to load

    data = load_breast_cancer()
    names = tuple(str(name).replace(" ", "_") for name in data.feature_names)
    features = np.asarray(data.data, dtype=np.float64)
    labels = np.asarray(data.target, dtype=np.int64)
    features.setflags(write=False)
    labels.setflags(write=False)
    return names, features, labels


def load_dataset() -> tuple[list[str], np.ndarray, np.ndarray]:
    """(entity_ids, features, labels): ids "0".."n-1", an (n, 30) float array and n labels in {0, 1}.

    The arrays are read-only and shared between calls; copy them before changing them.
    """
    _, features, labels = _bundle()
    return [str(i) for i in range(len(labels))], features, labels


def feature_names() -> tuple[str, ...]:
    """The 30 feature names, in the column order of `load_dataset()`'s features."""
    return _bundle()[0]
