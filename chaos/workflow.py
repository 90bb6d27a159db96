"""Chaos Mesh Workflows (`kind: Workflow`) as chaoslab checks them: the GameDay's cluster form.

chaoslab does not run Workflows itself (`chaoslab gameday` runs the same scenarios with the runner);
it checks that one is complete before `kubectl apply`: the entry and every child name a template,
each template has a known type and a `deadline` Chaos Mesh can read, and every embedded PodChaos or
NetworkChaos passes chaoslab's own manifest checks (chaos.manifest). The CRD schema stays the
ground truth (tests check the seed Workflow against it).
"""

from __future__ import annotations

from typing import Any

from chaos.errors import Problem
from chaos.fields import Fields
from chaos.manifest import API_VERSION, parse_manifest

TEMPLATE_TYPES = {"Serial": None, "Parallel": None, "Suspend": None, "Task": None}
EMBEDDED = {"PodChaos": "podChaos", "NetworkChaos": "networkChaos"}


def parse_workflow(data: object, file: str, problems: list[Problem]) -> None:
    """Report every problem of a Workflow document into `problems`."""
    doc = Fields(data, file, "", problems)
    doc.text("apiVersion", choices=(API_VERSION,))
    doc.text("kind", choices=("Workflow",))
    meta = doc.section("metadata")
    meta.text("name")
    namespace = meta.text("namespace")
    meta.consume("labels", "annotations")
    meta.finish()
    spec = doc.section("spec")
    entry = spec.text("entry")
    templates: dict[str, Fields] = {}
    for item in spec.items("templates"):
        name = item.text("name")
        if name in templates:
            item.problem("name", name, "is used by another template")
        templates[name] = item
    spec.finish()
    doc.finish()
    if entry and templates and entry not in templates:
        spec.problem("entry", entry, f"names no template (they are {sorted(templates)})")
    for name, item in templates.items():
        _template(item, name, namespace, templates, file, problems)


def _template(
    item: Fields, name: str, namespace: str, templates: dict[str, Fields], file: str, problems: list[Problem]
) -> None:
    kinds = (*TEMPLATE_TYPES, *EMBEDDED)
    kind = item.text("templateType", choices=kinds)
    if item.has("deadline"):
        item.duration("deadline", positive=True)
    if kind in ("Serial", "Parallel"):
        for child in item.strings("children"):
            if child not in templates:
                item.problem("children", child, f"names no template (they are {sorted(templates)})")
    elif kind == "Task":
        container = item.section("task").section("container")
        container.text("image")
        container.text("name")
    elif kind in EMBEDDED:
        key = EMBEDDED[kind]
        body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": item.data.get(key),
        }
        item.consume(key)
        parse_manifest(body, f"{file} ({item.where(key)})", problems)
    item.consume("task", "children", "deadline", "name", "templateType")
    item.finish()


__all__ = ["parse_workflow"]
