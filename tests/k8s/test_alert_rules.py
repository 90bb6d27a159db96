"""k8s/alert-rules.yaml: promtool accepts it, its unit tests pass, it queries metrics pods export."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import ServiceMetrics
from tests.k8s.manifests import K8S, find

RULES = K8S / "alert-rules.yaml"
RULE_TESTS = Path(__file__).with_name("alert-rules.test.yaml")
ALERTS = {
    "MLServiceHighErrorRate",
    "MLServiceLatencyP95AboveSLO",
    "MLServicePodsUnavailable",
    "MLServiceCircuitBreakerOpen",
    "MLServiceFallbackRateHigh",
    "MLServicePredictionDistributionShift",
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/setup.sh (Debian package prometheus)"
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)


def _rules() -> list[dict[str, object]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    result = _promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_alert_rule_unit_tests_pass() -> None:
    result = _promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested() -> None:
    tested = {
        case["alertname"]
        for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in group["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert tested == ALERTS


def test_the_required_alerts_are_there() -> None:
    assert {str(rule["alert"]) for rule in _rules()} == ALERTS


def test_rules_query_only_metrics_a_pod_exports() -> None:
    metrics = ServiceMetrics(process=False)
    metrics.declare_models(("v1", "fallback"), "v1")
    exported = {
        s.name for f in text_string_to_metric_families(metrics.exposition().decode()) for s in f.samples
    }
    used = {name for rule in _rules() for name in re.findall(r"\bmlservice_[a-z_]+", str(rule["expr"]))}
    assert used, "the rules use no mlservice_* metric"
    assert used <= exported, used - exported


def test_cluster_scrape_config_is_valid(tmp_path: Path) -> None:
    config = yaml.safe_load(find("ConfigMap", "prometheus-ml-prediction-service")["data"]["prometheus.yml"])
    assert [job["job_name"] for job in config["scrape_configs"]] == ["ml-prediction-service"]
    targets = {r.get("target_label") for r in config["scrape_configs"][0]["relabel_configs"]}
    assert {"pod", "namespace"} <= targets
    config["rule_files"] = [str(RULES)]
    # Debian's Prometheus is built without Kubernetes service discovery, so promtool here cannot
    # parse kubernetes_sd_configs: check everything else with a stand-in static target.
    job = config["scrape_configs"][0]
    assert job.pop("kubernetes_sd_configs")[0]["role"] == "pod"
    job["static_configs"] = [{"targets": ["127.0.0.1:8080"]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = _promtool("check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
