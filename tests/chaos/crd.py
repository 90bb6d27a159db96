"""The real Chaos Mesh CRD schemas (../shared/chaos-mesh-crds) as jsonschema validators."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRD_DIR = Path(__file__).resolve().parents[3] / "shared" / "chaos-mesh-crds"
_FILES = {
    "PodChaos": "podchaos",
    "NetworkChaos": "networkchaos",
    "Schedule": "schedules",
    "Workflow": "workflows",
}


@cache
def crd_validator(kind: str) -> jsonschema.Draft7Validator:
    crd = yaml.safe_load((CRD_DIR / f"chaos-mesh.org_{_FILES[kind]}.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"])


def crd_errors(document: dict[str, Any]) -> list[str]:
    """Messages for every way `document` breaks the schema of its kind (empty when valid)."""
    validator = crd_validator(document["kind"])
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]
