"""Training the service's models, deterministically and in seconds, into a versioned artifacts directory.

Versions (all scikit-learn pipelines: StandardScaler + LogisticRegression, fixed seeds):

- `v1`      the default: all 30 features.
- `v2`      a good candidate for a rollout: stronger regularisation, balanced class weights.
- `v3-bad`  the deliberately bad version for the GameDay "bad model" scenario: v1's recipe trained on
            an extract whose labels were swapped, as a broken data pipeline would produce. It looks
            healthy (answers fast, no errors) but predicts the wrong class for most entities, which
            shifts the distribution of predicted classes (MLServicePredictionDistributionShift).
- `fallback` the simple model used when the primary model fails or only default features are left:
            three robust features.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.artifacts import FALLBACK, FORMAT, MANIFEST, PRIMARY, sha256_of, write_json
from service.dataset import DATASET_NAME, feature_names, load_dataset
from service.linear import LinearClassifier, fold_pipeline

log = logging.getLogger(__name__)

SEED = 20240601
TEST_SHARE = 0.25
DEFAULT_VERSION = "v1"
BAD_VERSION = "v3-bad"
FALLBACK_VERSION = "fallback"
FALLBACK_FEATURES = ("worst_radius", "worst_concave_points", "worst_texture")


@dataclass(frozen=True)
class Recipe:
    """How one version is trained."""

    version: str
    role: str
    quality: str
    description: str
    C: float = 1.0
    balanced: bool = False
    swap_labels: bool = False
    features: tuple[str, ...] = ()  # empty: all features


RECIPES = (
    Recipe(DEFAULT_VERSION, PRIMARY, "good", "logistic regression on all 30 features"),
    Recipe("v2", PRIMARY, "good", "logistic regression, C=0.1, balanced class weights", C=0.1, balanced=True),
    Recipe(BAD_VERSION, PRIMARY, "bad", "v1 trained on swapped labels (a broken data pipeline)",
           swap_labels=True),
    Recipe(FALLBACK_VERSION, FALLBACK, "good", f"logistic regression on {', '.join(FALLBACK_FEATURES)}",
           features=FALLBACK_FEATURES),
)  # fmt: skip


def train(directory: Path) -> dict[str, Any]:
    """Train every recipe and write the artifacts directory; returns the manifest written."""
    import joblib  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split

    names = feature_names()
    _, X, y = load_dataset()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SHARE, random_state=SEED, stratify=y
    )
    models_dir = directory / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    entries: dict[str, Any] = {}
    servings: dict[str, LinearClassifier] = {}
    for recipe in RECIPES:
        columns = [names.index(f) for f in recipe.features] if recipe.features else list(range(len(names)))
        labels = 1 - y_train if recipe.swap_labels else y_train
        pipeline = _pipeline(recipe).fit(X_train[:, columns], labels)
        serving = servings[recipe.version] = fold(recipe.version, pipeline, names, columns)
        accuracy = float(np.mean(serving.predict(X_test) == y_test))
        answers = serving.predict(X)  # every entity the service is asked about
        json_path = models_dir / f"{recipe.version}.json"
        joblib_path = models_dir / f"{recipe.version}.joblib"
        write_json(json_path, serving.to_dict())
        joblib.dump({"pipeline": pipeline, "columns": columns, "feature_names": names}, joblib_path)
        entries[recipe.version] = {
            "role": recipe.role,
            "quality": recipe.quality,
            "description": recipe.description,
            "file": f"models/{json_path.name}",
            "sha256": sha256_of(json_path),
            "estimator_file": f"models/{joblib_path.name}",
            "estimator_sha256": sha256_of(joblib_path),
            "test_accuracy": round(accuracy, 6),
            "positive_ratio": round(float(np.mean(answers == 1)), 6),
            "served_error": round(float(np.mean(answers != y)), 6),
        }
        log.info(
            "trained %s: test accuracy %.3f, wrong on %.1f %% of the served entities",
            recipe.version,
            accuracy,
            100 * entries[recipe.version]["served_error"],
        )
    defaults = X_train.mean(axis=0)
    on_defaults = servings[FALLBACK_VERSION].predict(np.repeat(defaults[None, :], len(y), axis=0))
    defaults_error = round(float(np.mean(on_defaults != y)), 6)
    log.info("the fallback model on default features is wrong on %.1f %% of them", 100 * defaults_error)
    manifest = {
        "format": FORMAT,
        "dataset": DATASET_NAME,
        "feature_names": list(names),
        "defaults": {name: float(v) for name, v in zip(names, defaults, strict=True)},
        "defaults_served_error": defaults_error,
        "reference_positive_ratio": round(float(np.mean(y_train == 1)), 6),
        "default_version": DEFAULT_VERSION,
        "fallback_version": FALLBACK_VERSION,
        "models": entries,
    }
    write_json(directory / MANIFEST, manifest)
    return manifest


def _pipeline(recipe: Recipe) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    weights = "balanced" if recipe.balanced else None
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=recipe.C, class_weight=weights, max_iter=5000)
    )


def fold(version: str, pipeline: Any, names: tuple[str, ...], columns: list[int]) -> LinearClassifier:
    """The serving form of a fitted StandardScaler + LogisticRegression pipeline."""
    scaler, regression = pipeline[0], pipeline[-1]
    classes = tuple(int(c) for c in regression.classes_)
    return fold_pipeline(
        version=version,
        feature_names=names,
        mean=scaler.mean_,
        scale=scaler.scale_,
        coef=regression.coef_[0],
        intercept=float(regression.intercept_[0]),
        columns=columns,
        classes=(classes[0], classes[1]),
    )
