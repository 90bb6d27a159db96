"""How one request ended, packed in a small integer: status | features << 3 | model << 5.

status: OK or the error kind the client saw. features (successful answers only): where the model's
features came from. model (successful answers only): which model answered and how.
"""

from __future__ import annotations

import numpy as np

# status (bits 0-2)
OK = 0
REFUSED = 1  # routed to a pod that does not serve: connection refused, at once
RESET = 2  # the pod went down while the request was queued or in progress
TIMEOUT = 3  # the server's request timeout or the client's timeout cut it
OVERLOAD = 4  # the pod's queue was full: 503 at once
UNAVAILABLE = 5  # no pod in the load balancer's rotation: 503 at once
STATUS_MASK = 0b111
ERROR_KINDS = {
    REFUSED: "refused",
    RESET: "reset",
    TIMEOUT: "timeout",
    OVERLOAD: "overload",
    UNAVAILABLE: "unavailable",
}

# features (bits 3-4)
FEATURES_SHIFT = 3
LIVE = 0  # from the feature store
CACHE = 1  # store not called (breaker open) or the call failed; the cache had them
DEFAULT = 2  # ... and the cache did not: default features, answered by the fallback model

# model (bits 5-7)
MODEL_SHIFT = 5
PRIMARY = 0
WRONG = 1  # the primary model answered, wrongly (model chaos)
FALLBACK_ERROR = 2  # the primary model raised (model chaos); the fallback model answered
FALLBACK_TIMEOUT = 3  # the primary model hung and was cut at the model deadline; fallback answered
FALLBACK_FEATURES = 4  # default features: the fallback model answered
ROLLED = 5  # the primary model of a rolled-out version answered (a model rollout's pods)
FALLBACK_REASONS = {
    FALLBACK_FEATURES: "features",
    FALLBACK_ERROR: "model_error",
    FALLBACK_TIMEOUT: "model_timeout",
}


def status(codes: np.ndarray) -> np.ndarray:
    return codes & STATUS_MASK


def features(codes: np.ndarray) -> np.ndarray:
    return (codes >> FEATURES_SHIFT) & 0b11


def model(codes: np.ndarray) -> np.ndarray:
    return (codes >> MODEL_SHIFT) & 0b111


def pack(status_: int, features_: int = LIVE, model_: int = PRIMARY) -> int:
    return status_ | features_ << FEATURES_SHIFT | model_ << MODEL_SHIFT
