"""Which rule of an RBAC manifest (k8s/rbac.yaml) grants a verb on a resource: for the one-line
error a 403 becomes, and for `chaoslab doctor`'s access review.

Only Role and ClusterRole rules are read (`apiGroups`, `resources`, `verbs`, `*` wildcards); a
Role's namespace is the namespace it grants in. Bindings are not followed: the file is the
project's own, and its roles exist to be bound to the runner.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROLE_KINDS = ("Role", "ClusterRole")


@dataclass(frozen=True)
class Rule:
    """One rule of a Role or ClusterRole, with where it came from."""

    role_kind: str
    role: str
    namespace: str | None
    index: int
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    source: str

    def grants(self, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        if self.namespace is not None and namespace != self.namespace:
            return False
        return (
            _matches(self.verbs, verb)
            and _matches(self.api_groups, group)
            and _matches(self.resources, resource)
        )

    def describe(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        return f"{self.source}: {self.role_kind} {self.role}{where}, rule {self.index + 1}"


def _matches(allowed: Sequence[str], value: str) -> bool:
    return "*" in allowed or value in allowed


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def rules_of(documents: Iterable[Any], source: str) -> list[Rule]:
    """Every rule of every Role and ClusterRole among `documents` (others are skipped)."""
    out: list[Rule] = []
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") not in ROLE_KINDS:
            continue
        meta = doc.get("metadata") or {}
        namespace = meta.get("namespace") if doc["kind"] == "Role" else None
        for i, rule in enumerate(doc.get("rules") or []):
            if not isinstance(rule, dict):
                continue
            out.append(
                Rule(
                    doc["kind"],
                    str(meta.get("name", "?")),
                    namespace,
                    i,
                    _strings(rule.get("apiGroups")),
                    _strings(rule.get("resources")),
                    _strings(rule.get("verbs")),
                    source,
                )
            )
    return out


def load_rules(path: Path) -> list[Rule]:
    """The rules of an RBAC manifest file; none when it does not exist or cannot be parsed."""
    try:
        return rules_of(yaml.safe_load_all(path.read_text()), str(path))
    except (OSError, yaml.YAMLError):
        return []


def granting_rule(
    rules: Iterable[Rule], verb: str, group: str, resource: str, namespace: str | None
) -> Rule | None:
    """The first rule that grants `verb` on `group`/`resource` in `namespace`, or None."""
    return next((r for r in rules if r.grants(verb, group, resource, namespace)), None)
