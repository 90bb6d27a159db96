"""Versioned model artifacts on disk: the manifest, the serving models, their checksums.

Layout of an artifacts directory (written by `service.training`, read by every pod at start-up):

    manifest.json          feature names, default feature values, versions, roles, checksums
    models/<version>.json  the serving form (folded logistic regression, see service.linear)
    models/<version>.joblib the fitted scikit-learn pipeline it was folded from (for audit and tests)

Reading needs only the standard library and numpy, so a pod starts fast.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.errors import Problem
from chaos.fields import Fields
from service.errors import ArtifactError
from service.linear import LinearClassifier

MANIFEST = "manifest.json"
FORMAT = 1
PRIMARY = "primary"
FALLBACK = "fallback"
ROLES = (PRIMARY, FALLBACK)
QUALITIES = ("good", "bad")


@dataclass(frozen=True)
class ModelInfo:
    """What the manifest says about one version."""

    version: str
    role: str
    quality: str
    description: str
    file: str
    sha256: str
    estimator_file: str
    estimator_sha256: str
    test_accuracy: float
    positive_ratio: float
    served_error: float | None = None
    """Share of the data set's entities it answers wrongly (None: artifacts trained before this was kept)."""


@dataclass(frozen=True)
class Artifacts:
    """Everything a pod needs to predict: models by version, feature names and default values."""

    directory: Path
    feature_names: tuple[str, ...]
    defaults: dict[str, float]
    reference_positive_ratio: float
    default_version: str
    fallback_version: str
    models: dict[str, LinearClassifier]
    infos: dict[str, ModelInfo]
    dataset: str
    defaults_served_error: float | None = None
    """Share of the data set's entities the fallback model answers wrongly on default features."""

    @property
    def primary_versions(self) -> tuple[str, ...]:
        """Versions a pod may serve as its primary model (rollout and rollback targets)."""
        return tuple(v for v, info in self.infos.items() if info.role == PRIMARY)

    @property
    def fallback(self) -> LinearClassifier:
        return self.models[self.fallback_version]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_json(path: Path, data: Any) -> None:
    """Stable JSON (sorted keys, exact floats) so the same training writes the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: not found") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot be read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}") from exc


def load_artifacts(directory: Path) -> Artifacts:
    """Read and check an artifacts directory; raises ArtifactError naming every problem found."""
    manifest_path = directory / MANIFEST
    data = read_json(manifest_path)
    problems: list[Problem] = []
    doc = Fields(data, str(manifest_path), "", problems)
    doc.integer("format", minimum=FORMAT, maximum=FORMAT)
    dataset = doc.text("dataset")
    names = tuple(doc.strings("feature_names"))
    defaults = _defaults(doc.section("defaults"), names)
    reference = doc.fraction("reference_positive_ratio")
    defaults_error = _optional_fraction(doc, "defaults_served_error")
    default_version = doc.text("default_version")
    fallback_version = doc.text("fallback_version")
    models_section = doc.section("models")
    infos = {str(v): _info(str(v), models_section.section(str(v))) for v in list(models_section.data)}
    models_section.finish()
    doc.finish()
    _check_roles(doc, infos, default_version, fallback_version)
    _raise(problems)

    models = {v: _load_model(directory, info, names, problems) for v, info in infos.items()}
    _raise(problems)
    return Artifacts(
        directory=directory,
        feature_names=names,
        defaults=defaults,
        reference_positive_ratio=reference,
        default_version=default_version,
        fallback_version=fallback_version,
        models={v: m for v, m in models.items() if m is not None},
        infos=infos,
        dataset=dataset,
        defaults_served_error=defaults_error,
    )


def _raise(problems: list[Problem]) -> None:
    if problems:
        more = f" (+{len(problems) - 1} more: {'; '.join(map(str, problems[1:]))})" if problems[1:] else ""
        raise ArtifactError(f"{problems[0]}{more}")


def _defaults(f: Fields, names: tuple[str, ...]) -> dict[str, float]:
    values = {name: f.number(name) for name in names}
    f.finish()
    return values


def _info(version: str, f: Fields) -> ModelInfo:
    info = ModelInfo(
        version=version,
        role=f.text("role", choices=ROLES),
        quality=f.text("quality", choices=QUALITIES),
        description=f.text("description"),
        file=f.text("file"),
        sha256=f.text("sha256", pattern="[0-9a-f]{64}"),
        estimator_file=f.text("estimator_file"),
        estimator_sha256=f.text("estimator_sha256", pattern="[0-9a-f]{64}"),
        test_accuracy=f.fraction("test_accuracy"),
        positive_ratio=f.fraction("positive_ratio"),
        served_error=_optional_fraction(f, "served_error"),
    )
    f.finish()
    return info


def _optional_fraction(f: Fields, key: str) -> float | None:
    return f.fraction(key) if f.has(key) else None  # absent or null: not measured


def _check_roles(doc: Fields, infos: dict[str, ModelInfo], default: str, fallback: str) -> None:
    if default and infos.get(default) is None:
        doc.problem("default_version", default, f"is not among models {sorted(infos)}")
    elif default and infos[default].role != PRIMARY:
        doc.problem("default_version", default, "must name a model with role 'primary'")
    if fallback and infos.get(fallback) is None:
        doc.problem("fallback_version", fallback, f"is not among models {sorted(infos)}")
    elif fallback and infos[fallback].role != FALLBACK:
        doc.problem("fallback_version", fallback, "must name a model with role 'fallback'")


def _load_model(
    directory: Path, info: ModelInfo, names: tuple[str, ...], problems: list[Problem]
) -> LinearClassifier | None:
    path = directory / info.file
    where = f"models.{info.version}.file"
    manifest = str(directory / MANIFEST)
    if not path.is_file():
        problems.append(Problem(manifest, where, info.file, "names a file that does not exist"))
        return None
    if sha256_of(path) != info.sha256:
        problems.append(Problem(str(path), "", info.sha256, "does not match the manifest's sha256"))
        return None
    try:
        model = LinearClassifier.from_dict(read_json(path))
    except (KeyError, TypeError, ValueError) as exc:
        problems.append(Problem(str(path), "", info.version, f"is not a serving model: {exc}"))
        return None
    if model.version != info.version:
        problems.append(Problem(str(path), "version", model.version, f"should be {info.version!r}"))
    if model.feature_names != names:
        problems.append(
            Problem(str(path), "feature_names", len(model.feature_names), "differ from the manifest's")
        )
    return model
