"""The example in sim/README.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_readme_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "sim" / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert example is not None
    monkeypatch.chdir(ROOT)
    exec(compile(example.group(1), "sim/README.md", "exec"), {"__name__": "readme"})
