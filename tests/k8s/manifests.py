"""Reading the Kubernetes manifests in k8s/ as plain documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

K8S = Path(__file__).resolve().parents[2] / "k8s"
NOT_MANIFESTS = {"alert-rules.yaml"}  # a Prometheus rules file, not a Kubernetes object


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name not in NOT_MANIFESTS)


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def find(kind: str, name: str, file: str | None = None) -> dict[str, Any]:
    files = [K8S / file] if file else manifest_files()
    found = [
        d for p in files for d in documents(p) if d.get("kind") == kind and d["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"expected one {kind} {name!r} in {[p.name for p in files]}, found {len(found)}"
    return found[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def env(deployment: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(deployment).get("env", [])}
