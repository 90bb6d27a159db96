"""Chaos manifests for the cluster tests: the seed files, renamed and shortened."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from chaos.manifest import ChaosManifest, load_manifest

ROOT = Path(__file__).resolve().parents[2]


def seed(name: str, tmp_path: Path, **spec: Any) -> ChaosManifest:
    """experiments/NAME.yaml with a unique metadata.name and `spec` fields changed."""
    doc = yaml.safe_load((ROOT / "experiments" / f"{name}.yaml").read_text())
    doc["metadata"]["name"] = f"{name}-{uuid.uuid4().hex[:6]}"
    doc["spec"].update(spec)
    path = tmp_path / f"{doc['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_manifest(path)


def with_document(manifest: ChaosManifest, **spec: Any) -> ChaosManifest:
    """The manifest with its raw document's spec changed, past chaoslab's own validation (to see
    what the API server says)."""
    doc = yaml.safe_load(yaml.safe_dump(manifest.document))
    doc["spec"].update(spec)
    return replace(manifest, document=doc)
