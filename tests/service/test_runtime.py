"""The serve command's settings: the profile, with what its flags override, checked before serving."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.errors import ServiceConfigError
from service.runtime import ServeSettings, serve_settings


def settings(repo_root: Path, **overrides: object) -> ServeSettings:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 8000,
        "pod_name": "pod-a",
        "profile_path": repo_root / "experiments" / "system.yaml",
        "redis_url": "redis://127.0.0.1:6379/0",
        "artifacts_dir": repo_root / "artifacts",
        "env": {},
    }
    return serve_settings(**{**base, **overrides})  # type: ignore[arg-type]  # keyword-only, any value


def test_concurrency_flag_replaces_only_the_profiles_slots(repo_root: Path) -> None:
    default = settings(repo_root)
    changed = settings(repo_root, concurrency=4)
    assert changed.profile.service.concurrency == 4
    assert default.profile.service.concurrency != 4
    assert changed.profile.service.max_queue == default.profile.service.max_queue


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("concurrency", 0, "--concurrency=0 must be >= 1"),
        ("port", 0, "--port=0"),
        ("pod_name", "", "--pod-name"),
    ],
)
def test_bad_flags_are_named(repo_root: Path, flag: str, value: object, message: str) -> None:
    with pytest.raises(ServiceConfigError, match=message):
        settings(repo_root, **{flag: value})
