"""The metrics a pod exports are exactly those service/README.md documents."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from service.metrics import ServiceMetrics

README = Path(__file__).resolve().parents[2] / "service" / "README.md"


def _exported() -> dict[str, set[str]]:
    metrics = ServiceMetrics(process=False)
    metrics.declare_models(("v1", "fallback"), "v1")
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        if family.name.endswith("_created"):  # prometheus_client's creation times, not our metrics
            continue
        name = family.name + "_total" if family.type == "counter" else family.name
        names[name] = {
            label
            for s in family.samples
            if not s.name.endswith("_created")
            for label in s.labels
            if label != "le"
        }
    return names


def _documented() -> dict[str, set[str]]:
    rows = re.findall(r"^\| `(mlservice_\w+)` \| \w+ \|([^|]*)\|", README.read_text(), flags=re.MULTILINE)
    return {name: set(re.findall(r"`(\w+)`", labels)) for name, labels in rows}


def test_every_exported_metric_is_documented_with_its_labels() -> None:
    assert _documented() == _exported()


def test_histograms_resolve_the_latency_slo() -> None:
    metrics = ServiceMetrics(process=False)
    for seconds in [0.01] * 94 + [0.31] * 6:
        metrics.request_duration.observe(seconds)
    exposition = metrics.exposition().decode()
    assert 'mlservice_request_duration_seconds_bucket{le="0.3"} 94.0' in exposition
    assert 'mlservice_request_duration_seconds_bucket{le="0.325"} 100.0' in exposition
