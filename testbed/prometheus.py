"""The testbed's Prometheus: scrape configuration, pod targets, and the alert rules from k8s/.

Every component is scraped each second and rules are evaluated each second, so a minute-long
experiment has enough points. Pods are found through a file_sd targets file that the supervisor
rewrites when pods come and go; each target carries the `pod` and `namespace` labels a Kubernetes
service discovery would give it, under job "ml-prediction-service".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from chaos.documents import read_document
from chaos.durations import format_duration
from chaos.errors import InvalidSpecError, Problem
from testbed.config import SCRAPE_INTERVAL

SERVICE_JOB = "ml-prediction-service"
SCRAPE_TIMEOUT_SHARE = 0.9


def prometheus_config(
    host: str,
    pod_targets_file: Path,
    static_jobs: Mapping[str, int],
    rule_files: Sequence[Path],
    interval: float = SCRAPE_INTERVAL,
) -> str:
    """prometheus.yml: pods via file_sd under SERVICE_JOB, one static job per other component."""
    every = format_duration(interval)
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": every,
            "evaluation_interval": every,
            "scrape_timeout": format_duration(interval * SCRAPE_TIMEOUT_SHARE),
            "external_labels": {"testbed": "chaoslab"},
        },
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {
                "job_name": SERVICE_JOB,
                "file_sd_configs": [{"files": [str(pod_targets_file)], "refresh_interval": every}],
            },
            *(
                {
                    "job_name": job,
                    "honor_labels": True,
                    "static_configs": [{"targets": [f"{host}:{port}"]}],
                }
                for job, port in static_jobs.items()
            ),
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def pod_targets(
    host: str, pods: Sequence[tuple[str, int]], namespace: str, labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    """file_sd entries for (pod name, port) pairs."""
    return [
        {"targets": [f"{host}:{port}"], "labels": {**labels, "pod": name, "namespace": namespace}}
        for name, port in pods
    ]


def load_rules(path: Path, alert_for: float | None = None) -> dict[str, Any]:
    """The rule groups of a rules file (plain Prometheus format or a PrometheusRule object).

    With `alert_for`, every alert's `for:` becomes that duration (a shorter `for` for short runs).
    """
    doc = read_document(path)
    groups = _groups(doc, str(path))
    if alert_for is not None:
        for group in groups:
            for rule in group.get("rules", []):
                if isinstance(rule, dict) and "alert" in rule:
                    rule["for"] = format_duration(alert_for)
    return {"groups": groups}


def alert_names(rules: Mapping[str, Any]) -> list[str]:
    return [
        str(rule["alert"])
        for group in rules.get("groups", [])
        for rule in group.get("rules", [])
        if isinstance(rule, dict) and "alert" in rule
    ]


def _groups(doc: Any, file: str) -> list[dict[str, Any]]:
    if isinstance(doc, dict) and isinstance(doc.get("spec"), dict):
        doc = doc["spec"]
    groups = doc.get("groups") if isinstance(doc, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise InvalidSpecError([Problem(file, "groups", groups, "must be a list of Prometheus rule groups")])
    return groups
