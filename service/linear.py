"""The serving form of a trained logistic-regression model: folded weights evaluated with numpy.

Training (`service.training`) fits scikit-learn pipelines (StandardScaler + LogisticRegression) and
stores them; it also folds each pipeline into one weight vector and intercept over the full feature
vector, so that a pod predicts with a dot product and needs neither scikit-learn (whose import alone
takes longer than a pod's start-up budget) nor its per-call input validation. A test checks that the
folded model predicts exactly what the pipeline predicts on every row of the data set.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LinearClassifier:
    """P(class 1 | x) = sigmoid(x . weights + intercept), over features in `feature_names` order."""

    version: str
    feature_names: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    classes: tuple[int, int] = (0, 1)
    _w: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.feature_names):
            raise ValueError(
                f"model {self.version!r}: {len(self.weights)} weights for {len(self.feature_names)} features"
            )
        if not all(math.isfinite(w) for w in (*self.weights, self.intercept)):
            raise ValueError(f"model {self.version!r}: weights and intercept must be finite numbers")
        object.__setattr__(self, "_w", np.asarray(self.weights, dtype=np.float64))

    @property
    def classes_(self) -> np.ndarray:
        """The class labels in scikit-learn's attribute name (the chaos wrapper reads it)."""
        return np.asarray(self.classes)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The features this model actually uses (non-zero weight)."""
        return tuple(name for name, w in zip(self.feature_names, self.weights, strict=True) if w != 0.0)

    def probabilities(self, row: Sequence[float]) -> tuple[float, float]:
        """`predict_proba` of one row in plain Python: for a single row, numpy's per-call overhead
        costs more than the 30 multiplications. Agrees with `predict_proba` to rounding."""
        z = sum(map(operator.mul, self.weights, row)) + self.intercept
        p1 = 0.5 * (1.0 + math.tanh(0.5 * z))
        return 1.0 - p1, p1

    def decision_function(self, X: Any) -> np.ndarray:
        rows = np.atleast_2d(np.asarray(X, dtype=np.float64))
        return np.asarray(rows @ self._w + self.intercept)

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, 2) probabilities of classes[0] and classes[1], like scikit-learn's."""
        z = self.decision_function(X)
        p1 = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function without overflow warnings
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X: Any) -> np.ndarray:
        z = self.decision_function(X)
        return np.where(z > 0, self.classes[1], self.classes[0])

    # -- storage -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "linear-logistic",
            "version": self.version,
            "feature_names": list(self.feature_names),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "classes": list(self.classes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearClassifier:
        """The inverse of `to_dict`; raises ValueError/KeyError/TypeError on malformed data."""
        if data.get("kind") != "linear-logistic":
            raise ValueError(f"kind={data.get('kind')!r} is not 'linear-logistic'")
        classes = tuple(int(c) for c in data["classes"])
        if len(classes) != 2:
            raise ValueError(f"classes={data['classes']!r} must name exactly two classes")
        return cls(
            version=str(data["version"]),
            feature_names=tuple(str(n) for n in data["feature_names"]),
            weights=tuple(float(w) for w in data["weights"]),
            intercept=float(data["intercept"]),
            classes=(classes[0], classes[1]),
        )


def fold_pipeline(
    version: str,
    feature_names: Sequence[str],
    mean: np.ndarray,
    scale: np.ndarray,
    coef: np.ndarray,
    intercept: float,
    columns: Sequence[int],
    classes: tuple[int, int],
) -> LinearClassifier:
    """Fold `(x[columns] - mean) / scale . coef + intercept` into weights over all features.

    Features outside `columns` get weight 0, so every model takes the same full feature vector.
    """
    weights = np.zeros(len(feature_names))
    folded = np.asarray(coef, dtype=np.float64) / np.asarray(scale, dtype=np.float64)
    weights[list(columns)] = folded
    bias = float(intercept) - float(np.dot(folded, np.asarray(mean, dtype=np.float64)))
    return LinearClassifier(
        version=version,
        feature_names=tuple(feature_names),
        weights=tuple(float(w) for w in weights),
        intercept=bias,
        classes=classes,
    )
