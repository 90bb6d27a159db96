"""k8s/grafana-dashboard.json: built by service/dashboard.py, every query parsed by Prometheus' own
parser (promtool), every metric one that something in the system exports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from prometheus_client import CollectorRegistry

from service import dashboard
from service.metrics import ServiceMetrics

KUBE_STATE_METRICS = {"kube_deployment_spec_replicas", "kube_deployment_status_replicas_available"}
CHAOS_MESH = {"chaos_controller_manager_chaos_experiments"}  # tests/cluster/test_dashboard_metrics.py
PROMETHEUS = {"ALERTS"}
GRAFANA_VARIABLES = {"$__rate_interval": "1m"}


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _service_metrics() -> set[str]:
    """Every series name a pod's registry exposes, labelled families included before their first
    sample (a counter family is exposed as NAME_total, a histogram as NAME_bucket/_sum/_count)."""
    registry = ServiceMetrics(CollectorRegistry(), process=False).registry
    return {
        family.name + suffix for family in registry.collect() for suffix in SUFFIXES.get(family.type, ("",))
    }


def _names(node: Any) -> set[str]:
    """Metric names of every vector selector in a parsed PromQL expression."""
    if isinstance(node, promql_parser.VectorSelector):
        return {node.name} if node.name else set()
    found: set[str] = set()
    for attr in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None:
            found |= _names(child)
    for arg in getattr(node, "args", None) or []:
        found |= _names(arg)
    return found


def _expressions() -> list[tuple[str, str]]:
    out = []
    for title, exprs in dashboard.queries().items():
        for expr in exprs:
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            out.append((title, expr))
    return out


def test_the_committed_dashboard_and_configmap_are_what_the_builder_makes() -> None:
    assert dashboard.main(["--check"]) == 0


def test_the_dashboard_has_the_panels_operators_look_at() -> None:
    titles = set(dashboard.queries())
    for title in (
        "Request rate",
        "Availability",
        "Latency",
        "Errors by status code",
        "Fallback share",
        "Fallbacks by reason",
        "Circuit breaker open, per pod",
        "Ready pods",
        "Served model version",
        "Alerts firing",
        "annotation: Chaos Mesh experiments running",
    ):
        assert title in titles
    assert [q for q in dashboard.queries()["Latency"]] == [
        q for q in dashboard.queries()["Latency"] if "histogram_quantile" in q
    ] and len(dashboard.queries()["Latency"]) == 3


def test_every_query_parses_with_prometheus_own_parser(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": e} for i, (_, e) in enumerate(_expressions())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: bash scripts/setup.sh installs it"
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules['groups'][0]['rules'])} rules found" in result.stdout


def test_every_metric_is_exported_by_the_service_kube_state_metrics_chaos_mesh_or_prometheus() -> None:
    known = _service_metrics() | KUBE_STATE_METRICS | CHAOS_MESH | PROMETHEUS
    used: set[str] = set()
    for title, expr in _expressions():
        names = _names(promql_parser.parse(expr))
        assert names, f"{title}: {expr} selects no metric"
        assert names <= known, f"{title}: {sorted(names - known)} is exported by nothing in the system"
        used |= names
    service = {n for n in used if n.startswith("mlservice_")}
    assert {"mlservice_requests_total", "mlservice_request_duration_seconds_bucket"} <= service
