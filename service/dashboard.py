"""The service's Grafana dashboard, built with Grafana's typed builder (grafana-foundation-sdk).

    python -m service.dashboard            # writes k8s/grafana-dashboard.json and its ConfigMap
    python -m service.dashboard --check    # exit 1 when the committed files differ from the build

Panels: request rate, availability, latency p50/p95/p99, errors by status code, fallback share and
fallbacks by reason, breaker state per pod, ready pods, the served model version, the alerts
firing; chaos windows are annotations from Chaos Mesh's controller metric (experiments running).
Every query uses only what the service (service/metrics.py), kube-state-metrics, Chaos Mesh's
controller-manager and Prometheus itself (ALERTS) export; tests/k8s/test_dashboard.py checks that
and parses every expression with Prometheus' own parser (promtool).

The ConfigMap carries the `grafana_dashboard: "1"` label that Grafana's dashboard sidecar (the
Helm chart's `sidecar.dashboards`) loads dashboards from.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.builders.dashboard import AnnotationQuery, Dashboard, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from service.metrics import PREFIX

ROOT = Path(__file__).resolve().parent.parent
JSON_FILE = ROOT / "k8s" / "grafana-dashboard.json"
CONFIGMAP_FILE = ROOT / "k8s" / "grafana-dashboard-configmap.yaml"
UID = "chaoslab-ml-prediction-service"
NAMESPACE, DEPLOYMENT = "ml-services", "ml-prediction-service"
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"

M = PREFIX
REQUESTS = f"{M}_requests_total"


def _query(expr: str, legend: str = "", ref: str = "A") -> Dataquery:
    return Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref).datasource(PROMETHEUS)


def _deployment() -> str:
    return f'namespace="{NAMESPACE}", deployment="{DEPLOYMENT}"'


def _series(title: str, unit: str, *queries: Dataquery, description: str = "") -> Timeseries:
    panel = Timeseries().title(title).unit(unit).datasource(PROMETHEUS).height(8).span(12)
    if description:
        panel = panel.description(description)
    for query in queries:
        panel = panel.with_target(query)
    return panel


def queries() -> dict[str, list[str]]:
    """Every PromQL expression of the dashboard, by panel title (annotations under their name)."""
    doc = build()
    out: dict[str, list[str]] = {}
    for panel in doc["panels"]:
        exprs = [t["expr"] for t in panel.get("targets", []) if "expr" in t]
        if exprs:
            out[panel["title"]] = exprs
    for annotation in doc.get("annotations", {}).get("list", []):
        if annotation.get("expr"):
            out[f"annotation: {annotation['name']}"] = [annotation["expr"]]
    return out


def dashboard() -> Dashboard:
    success = f'sum(rate({REQUESTS}{{outcome="success"}}[{RATE}]))'
    total = f"sum(rate({REQUESTS}[{RATE}]))"
    bucket = f"sum by (le) (rate({M}_request_duration_seconds_bucket[{RATE}]))"
    return (
        Dashboard("chaoslab: ML prediction service")
        .uid(UID)
        .tags(["chaoslab", "ml-prediction-service", "chaos-engineering"])
        .description("The service under chaos: what the experiments' hypotheses are about.")
        .refresh("10s")
        .time("now-30m", "now")
        .timezone("browser")
        .annotation(
            AnnotationQuery()
            .name("Chaos Mesh experiments running")
            .datasource(PROMETHEUS)
            .enable(True)
            .icon_color("red")
            .expr('sum by (kind) (chaos_controller_manager_chaos_experiments{phase="running"}) > 0')
        )
        .with_row(Row("Requests"))
        .with_panel(_series("Request rate", "reqps", _query(total, "requests/s")))
        .with_panel(
            _series(
                "Availability",
                "percentunit",
                _query(f"{success} / {total}", "answered"),
                description="Share of /predict requests answered (fallback answers included).",
            )
        )
        .with_panel(
            _series(
                "Latency",
                "s",
                _query(f"histogram_quantile(0.50, {bucket})", "p50", "A"),
                _query(f"histogram_quantile(0.95, {bucket})", "p95", "B"),
                _query(f"histogram_quantile(0.99, {bucket})", "p99", "C"),
            )
        )
        .with_panel(
            _series(
                "Errors by status code",
                "reqps",
                _query(f'sum by (code) (rate({REQUESTS}{{outcome="error"}}[{RATE}]))', "{{code}}"),
            )
        )
        .with_row(Row("Degradation"))
        .with_panel(
            _series(
                "Fallback share",
                "percentunit",
                _query(f"sum(rate({M}_fallbacks_total[{RATE}])) / {success}", "fallback answers"),
            )
        )
        .with_panel(
            _series(
                "Fallbacks by reason",
                "reqps",
                _query(f"sum by (reason) (rate({M}_fallbacks_total[{RATE}]))", "{{reason}}"),
            )
        )
        .with_panel(
            _series(
                "Circuit breaker open, per pod",
                "short",
                _query(f'max by (pod) ({M}_circuit_breaker_state{{state="open"}})', "{{pod}}"),
                description="1 while the pod's feature-store breaker is open.",
            )
        )
        .with_panel(
            _series(
                "Ready pods",
                "short",
                _query(
                    f"sum(kube_deployment_status_replicas_available{{{_deployment()}}})", "available", "A"
                ),
                _query(f"sum(kube_deployment_spec_replicas{{{_deployment()}}})", "desired", "B"),
                _query(f"sum({M}_ready)", "ready (pods' own /ready)", "C"),
            )
        )
        .with_row(Row("Model and alerts"))
        .with_panel(
            Stat()
            .title("Served model version")
            .datasource(PROMETHEUS)
            .height(6)
            .span(8)
            .with_target(_query(f"count by (version) ({M}_model_info == 1)", "{{version}}"))
        )
        .with_panel(
            _series(
                "Predictions by class",
                "reqps",
                _query(
                    f"sum by (class, model_version) (rate({M}_predictions_total[{RATE}]))",
                    "{{model_version}} {{class}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Alerts firing",
                "short",
                _query('sum by (alertname) (ALERTS{alertstate="firing"})', "{{alertname}}"),
            )
        )
    )


def build() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a dict)."""
    data: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True, indent=2).encode(dashboard().build()))
    data.setdefault("templating", {})["list"] = [
        {
            "name": "datasource",
            "type": "datasource",
            "query": "prometheus",
            "label": "Prometheus",
            "current": {},
            "hide": 0,
        }
    ]
    return data


def configmap(data: dict[str, Any]) -> dict[str, Any]:
    """The dashboard as a ConfigMap for Grafana's dashboard sidecar."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "grafana-dashboard-ml-prediction-service",
            "namespace": "monitoring",
            "labels": {"grafana_dashboard": "1", "app.kubernetes.io/part-of": "chaoslab"},
        },
        "data": {"ml-prediction-service.json": json.dumps(data, indent=2, sort_keys=True) + "\n"},
    }


def rendered() -> dict[Path, str]:
    data = build()
    header = "# Generated by `python -m service.dashboard`; do not edit by hand.\n"
    return {
        JSON_FILE: json.dumps(data, indent=2, sort_keys=True) + "\n",
        CONFIGMAP_FILE: header + yaml.safe_dump(configmap(data), sort_keys=False),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed files; write nothing"
    )
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered().items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    for path in stale:
        print(f"{path.relative_to(ROOT)} is out of date: run python -m service.dashboard", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
