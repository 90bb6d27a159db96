"""Reading YAML files into plain data, turning every I/O or syntax problem into a one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chaos.errors import InvalidSpecError, Problem


def read_documents(path: Path) -> list[Any]:
    """All YAML documents in `path` (empty documents dropped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidSpecError(
            [Problem(str(path), "", str(path), f"cannot be read: {exc.strerror}")]
        ) from exc
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise InvalidSpecError([Problem(str(path), where, None, f"is not valid YAML: {reason}")]) from exc


def read_document(path: Path) -> Any:
    """The single YAML document in `path`."""
    docs = read_documents(path)
    if len(docs) != 1:
        raise InvalidSpecError([Problem(str(path), "", len(docs), "must hold exactly one YAML document")])
    return docs[0]
