"""The service's errors: all ChaosLabError subclasses that name the file, field or value at fault."""

from __future__ import annotations

from chaos.errors import ChaosLabError


class ServiceError(ChaosLabError):
    """Root of the prediction service's errors."""


class ArtifactError(ServiceError):
    """Model artifacts are missing, corrupt or inconsistent."""

    hint = "train them again with `python -m service train --artifacts DIR`"


class ServiceConfigError(ServiceError):
    """A command-line option or environment variable of the service has an impossible value."""


class FeatureDataError(ServiceError):
    """The feature store returned something that is not a feature vector."""


class Overloaded(ServiceError):
    """The pod's queue is full; the request is refused at once (HTTP 503)."""
