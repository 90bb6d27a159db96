"""The HTTP contract of the prediction service: request parsing, the response, and their vocabulary.

The load generator, the testbed and analysis depend on these names; service/README.md lists them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chaos.errors import Problem

# where the features of an answer came from
SOURCE_STORE = "store"
SOURCE_CACHE = "cache"
SOURCE_DEFAULTS = "defaults"
SOURCE_REQUEST = "request"
FEATURE_SOURCES = (SOURCE_STORE, SOURCE_CACHE, SOURCE_DEFAULTS, SOURCE_REQUEST)

# why an answer left the nominal path (feature store + primary model)
REASON_BREAKER_OPEN = "breaker_open"
REASON_STORE_ERROR = "store_error"
REASON_STORE_TIMEOUT = "store_timeout"
REASON_UNKNOWN_ENTITY = "unknown_entity"
REASON_MODEL_ERROR = "model_error"
REASON_MODEL_TIMEOUT = "model_timeout"
FALLBACK_REASONS = (
    REASON_BREAKER_OPEN,
    REASON_STORE_ERROR,
    REASON_STORE_TIMEOUT,
    REASON_UNKNOWN_ENTITY,
    REASON_MODEL_ERROR,
    REASON_MODEL_TIMEOUT,
)

# how a /predict request ended: the `outcome` and `code` labels of mlservice_requests_total
OUTCOME_SUCCESS = "success"
OUTCOME_INVALID = "invalid"
OUTCOME_ERROR = "error"
OUTCOMES = (OUTCOME_SUCCESS, OUTCOME_INVALID, OUTCOME_ERROR)
STATUS_OK = 200
STATUS_INVALID = 422
STATUS_INTERNAL = 500
STATUS_OVERLOADED = 503
STATUS_DEADLINE = 504
STATUSES = (STATUS_OK, STATUS_INVALID, STATUS_INTERNAL, STATUS_OVERLOADED, STATUS_DEADLINE)


def outcome_of(status: int) -> str:
    """success for 2xx, invalid for 4xx (the caller's fault), error for 5xx (the service's)."""
    if status < 400:
        return OUTCOME_SUCCESS
    return OUTCOME_INVALID if status < 500 else OUTCOME_ERROR


MAX_ENTITY_ID_LENGTH = 128
REQUEST = "request body"


class InvalidRequest(ValueError):
    """A /predict body that cannot be served (HTTP 422); carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    def detail(self) -> list[dict[str, Any]]:
        return [{"field": p.field, "message": p.message, "value": _jsonable(p.value)} for p in self.problems]


@dataclass(frozen=True)
class PredictRequest:
    entity_id: str
    overrides: dict[str, float]


@dataclass(frozen=True)
class Prediction:
    """One answer of POST /predict."""

    entity_id: str
    prediction: int
    probability: float
    model_version: str
    feature_source: str
    fallback: bool
    fallback_reason: str | None
    degraded: bool

    def to_json(self, pod: str) -> dict[str, Any]:
        return {
            "entity_id": self.entity_id,
            "prediction": self.prediction,
            "probability": self.probability,
            "model_version": self.model_version,
            "feature_source": self.feature_source,
            "fallback": self.fallback,
            "fallback_reason": self.fallback_reason,
            "degraded": self.degraded,
            "pod": pod,
        }


def parse_predict_request(body: object, feature_names: Iterable[str]) -> PredictRequest:
    """`{"entity_id": "42", "features": {"mean_radius": 14.1}}` -> PredictRequest, or InvalidRequest."""
    problems: list[Problem] = []
    if not isinstance(body, dict):
        raise InvalidRequest([Problem(REQUEST, "", _short(body), "must be a JSON object")])
    known = set(feature_names)
    for key in body:
        if key not in ("entity_id", "features"):
            problems.append(Problem(REQUEST, str(key), _short(body[key]), "is not a known field"))
    entity_id = body.get("entity_id")
    if not isinstance(entity_id, str) or not entity_id or len(entity_id) > MAX_ENTITY_ID_LENGTH:
        problems.append(
            Problem(
                REQUEST,
                "entity_id",
                _short(entity_id),
                f"must be a string of 1-{MAX_ENTITY_ID_LENGTH} characters",
            )
        )
    raw = body.get("features", {})
    overrides: dict[str, float] = {}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.append(
            Problem(REQUEST, "features", _short(raw), "must be an object of feature name to number")
        )
        raw = {}
    for name, value in raw.items():
        field = f"features.{name}"
        if name not in known:
            problems.append(Problem(REQUEST, field, _short(value), "is not a feature of the model"))
        elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            problems.append(Problem(REQUEST, field, _short(value), "must be a finite number"))
        else:
            overrides[name] = float(value)
    if problems:
        raise InvalidRequest(problems)
    return PredictRequest(entity_id=str(entity_id), overrides=overrides)


def _short(value: object) -> object:
    text = repr(value)
    return value if len(text) <= 80 else text[:77] + "..."


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    return repr(value)
