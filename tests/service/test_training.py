"""Training: deterministic artifacts, serving models equal to the scikit-learn pipelines, checked loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest

from chaos.system import load_system_profile
from service.artifacts import load_artifacts
from service.dataset import feature_names, load_dataset
from service.errors import ArtifactError
from service.training import train


def test_dataset_rows_are_entities() -> None:
    ids, features, labels = load_dataset()
    assert ids[:3] == ["0", "1", "2"] and ids[-1] == "568"
    assert features.shape == (569, 30) and labels.shape == (569,)
    assert set(np.unique(labels)) == {0, 1}
    assert feature_names()[0] == "mean_radius" and all(" " not in n for n in feature_names())


def test_training_is_deterministic(artifacts_dir: Path, tmp_path: Path) -> None:
    train(tmp_path)
    for name in ["manifest.json", *(f"models/{v}.json" for v in ("v1", "v2", "v3-bad", "fallback"))]:
        assert (tmp_path / name).read_bytes() == (artifacts_dir / name).read_bytes(), name


def test_serving_models_predict_what_the_pipelines_predict(artifacts_dir: Path) -> None:
    artifacts = load_artifacts(artifacts_dir)
    _, X, _ = load_dataset()
    for version, info in artifacts.infos.items():
        stored = joblib.load(artifacts_dir / info.estimator_file)
        pipeline, columns = stored["pipeline"], stored["columns"]
        expected = pipeline.predict_proba(X[:, columns])
        served = artifacts.models[version].predict_proba(X)
        np.testing.assert_allclose(served, expected, rtol=1e-9, atol=1e-12, err_msg=version)
        assert (artifacts.models[version].predict(X) == pipeline.predict(X[:, columns])).all(), version


def test_one_row_probabilities_agree_with_predict_proba(artifacts_dir: Path) -> None:
    artifacts = load_artifacts(artifacts_dir)
    _, X, _ = load_dataset()
    for version, model in {**artifacts.models, "fallback": artifacts.fallback}.items():
        batch = model.predict_proba(X)
        rows = np.array([model.probabilities(list(map(float, row))) for row in X])
        np.testing.assert_allclose(rows, batch, rtol=1e-12, atol=1e-15, err_msg=version)
        served = np.where(rows[:, 1] > rows[:, 0], model.classes[1], model.classes[0])
        assert (served == model.predict(X)).all(), version


def test_versions_roles_and_quality(artifacts_dir: Path) -> None:
    artifacts = load_artifacts(artifacts_dir)
    assert artifacts.primary_versions == ("v1", "v2", "v3-bad")
    assert (artifacts.default_version, artifacts.fallback_version) == ("v1", "fallback")
    _, X, y = load_dataset()
    accuracy = {v: float(np.mean(m.predict(X) == y)) for v, m in artifacts.models.items()}
    assert accuracy["v1"] > 0.95 and accuracy["v2"] > 0.95 and accuracy["fallback"] > 0.9
    assert accuracy["v3-bad"] < 0.1
    assert artifacts.fallback.inputs == ("worst_radius", "worst_texture", "worst_concave_points")
    assert artifacts.reference_positive_ratio == pytest.approx(np.mean(y), abs=0.01)
    assert set(artifacts.defaults) == set(feature_names())


@pytest.fixture
def copy(artifacts_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "artifacts"
    shutil.copytree(artifacts_dir, target)
    return target


def test_missing_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"manifest\.json: not found") as err:
        load_artifacts(tmp_path)
    assert "python -m service train" in err.value.one_line()


def test_tampered_model_is_refused(copy: Path) -> None:
    path = copy / "models" / "v2.json"
    data = json.loads(path.read_text())
    data["intercept"] += 1.0
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=r"v2\.json.*sha256"):
        load_artifacts(copy)


def test_inconsistent_manifest_lists_every_problem(copy: Path) -> None:
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["default_version"] = "fallback"
    manifest["models"]["v1"]["role"] = "canary"
    manifest["surprise"] = 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError) as err:
        load_artifacts(copy)
    text = str(err.value)
    assert "models.v1.role" in text and "'canary'" in text
    assert "default_version" in text and "surprise" in text


def test_the_system_profile_states_the_error_shares_training_measures(
    artifacts_dir: Path, repo_root: Path
) -> None:
    artifacts = load_artifacts(artifacts_dir)
    _, X, y = load_dataset()
    primary = artifacts.models[artifacts.default_version]
    assert artifacts.infos["v1"].served_error == pytest.approx(
        float(np.mean(primary.predict(X) != y)), abs=1e-6
    )
    quality = load_system_profile(repo_root / "experiments" / "system.yaml").model_quality
    measured = {
        "primary": artifacts.infos[artifacts.default_version].served_error,
        "fallback_model": artifacts.infos[artifacts.fallback_version].served_error,
        "default_features": artifacts.defaults_served_error,
    }
    stated = {name: getattr(quality, name) for name in measured}
    assert stated == {name: pytest.approx(value, abs=0.0005) for name, value in measured.items()}


def test_artifacts_trained_before_the_error_shares_were_kept_still_load(copy: Path) -> None:
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["defaults_served_error"]
    for entry in manifest["models"].values():
        del entry["served_error"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    artifacts = load_artifacts(copy)
    assert artifacts.defaults_served_error is None and artifacts.infos["v1"].served_error is None
