"""`chaoslab validate`: check every experiment file, system profile and manifest under some paths.

Each YAML file is validated by the model its `kind` names; every problem in every file is reported,
never only the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from chaos.documents import is_folder, read_documents
from chaos.errors import InvalidSpecError, Problem
from chaos.gameday import parse_gameday
from chaos.manifest import parse_manifest
from chaos.spec import parse_experiment
from chaos.system import parse_system_profile
from chaos.workflow import parse_workflow

_KINDS = ("Experiment", "SystemProfile", "GameDay", "PodChaos", "NetworkChaos", "Workflow")
_ALONE = ("Experiment", "SystemProfile", "GameDay")  # one per file (a manifest file may hold several)


def yaml_files(paths: Iterable[Path]) -> list[Path]:
    """The YAML files named, or found (recursively) under the folders named, sorted."""
    found: list[Path] = []
    for path in paths:
        if is_folder(path):
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            found.append(path)
    return found


def validate_file(path: Path) -> list[Problem]:
    """Every problem in one file (an empty list when it is valid)."""
    try:
        documents = read_documents(path)
    except InvalidSpecError as exc:
        return exc.problems
    problems: list[Problem] = []
    if not documents:
        return [Problem(str(path), "", None, "is empty")]
    for index, doc in enumerate(documents):
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if kind in _ALONE and len(documents) > 1:
            field = f"document {index + 1}: kind"
            problems.append(Problem(str(path), field, kind, "must be the only document in its file"))
        if kind == "Experiment":
            parse_experiment(doc, path, problems)
        elif kind == "SystemProfile":
            parse_system_profile(doc, str(path), problems)
        elif kind == "GameDay":
            parse_gameday(doc, path, problems)
        elif kind in ("PodChaos", "NetworkChaos"):
            parse_manifest(doc, str(path), problems)
        elif kind == "Workflow":
            parse_workflow(doc, str(path), problems)
        else:
            field = "kind" if len(documents) == 1 else f"document {index + 1}: kind"
            problems.append(Problem(str(path), field, kind, f"must be one of {', '.join(_KINDS)}"))
    return _unique(problems)


def validate_paths(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """The files checked and every problem found in them."""
    files = yaml_files(paths)
    problems: list[Problem] = []
    for file in files:
        problems.extend(validate_file(file))  # a path that is no readable file is one problem there
    return files, _unique(problems)


def _unique(problems: list[Problem]) -> list[Problem]:
    """Drop repeats (a manifest shared by two experiments is reported once per file)."""
    seen: set[str] = set()
    out: list[Problem] = []
    for problem in problems:
        key = str(problem)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out
