"""Configuration the testbed writes for HAProxy and Prometheus, and the rules it loads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from chaos.errors import InvalidSpecError
from chaos.system import Probe
from testbed.haproxy import haproxy_config, parse_show_stat
from testbed.prometheus import SERVICE_JOB, alert_names, load_rules, pod_targets, prometheus_config

PROBE = Probe(period=0.5, failure_threshold=3, success_threshold=2, timeout=0.25)


def config(tmp_path: Path) -> str:
    return haproxy_config("127.0.0.1", 8000, 8001, (9000, 9001, 9002), PROBE, tmp_path / "haproxy.sock")


def test_haproxy_checks_ready_with_the_readiness_probe_timing_and_never_retries(tmp_path: Path) -> None:
    text = config(tmp_path)
    assert "option httpchk GET /ready" in text
    assert "default-server inter 500ms fall 3 rise 2" in text
    assert "timeout check 250ms" in text
    assert "retries 0" in text and "redispatch" not in text
    servers = [line.split()[1:3] for line in text.splitlines() if line.strip().startswith("server ")]
    assert servers == [["pod-0", "127.0.0.1:9000"], ["pod-1", "127.0.0.1:9001"], ["pod-2", "127.0.0.1:9002"]]
    assert "use-service prometheus-exporter" in text
    assert "bind 127.0.0.1:8000" in text and "bind 127.0.0.1:8001" in text


@pytest.mark.e2e
def test_haproxy_accepts_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "haproxy.cfg"
    path.write_text(config(tmp_path))
    result = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_show_stat_is_read_per_backend_server() -> None:
    text = (
        "# pxname,svname,status,check_status,\n"
        "service,FRONTEND,OPEN,,\n"
        "pods,pod-0,UP,L7OK,\n"
        "pods,pod-1,DOWN,L4CON,\n"
        "pods,pod-2,UP 1/3,L4TOUT,\n"
        "pods,BACKEND,UP,,\n"
    )
    states = parse_show_stat(text)
    assert sorted(states) == ["pod-0", "pod-1", "pod-2"]
    assert [states[n].up for n in sorted(states)] == [True, False, True]
    assert states["pod-1"].check == "L4CON"


def test_prometheus_scrapes_every_second_pods_by_file_and_components_statically(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    text = prometheus_config(
        "127.0.0.1", tmp_path / "pods.json", {"haproxy": 8001, "fault-proxy": 8002}, [rules]
    )
    data = yaml.safe_load(text)
    assert data["global"]["scrape_interval"] == "1s"
    assert data["global"]["evaluation_interval"] == "1s"
    assert data["rule_files"] == [str(rules)]
    jobs = {job["job_name"]: job for job in data["scrape_configs"]}
    assert jobs[SERVICE_JOB]["file_sd_configs"][0]["files"] == [str(tmp_path / "pods.json")]
    assert jobs["haproxy"]["static_configs"] == [{"targets": ["127.0.0.1:8001"]}]


def test_pod_targets_carry_pod_and_namespace_labels() -> None:
    entries = pod_targets("127.0.0.1", [("web-a", 9000)], "ml-services", {"app": "web"})
    assert entries == [
        {"targets": ["127.0.0.1:9000"], "labels": {"app": "web", "pod": "web-a", "namespace": "ml-services"}}
    ]


@pytest.mark.e2e
def test_promtool_accepts_the_configuration_and_the_project_rules(tmp_path: Path, repo_root: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(load_rules(repo_root / "k8s" / "alert-rules.yaml", alert_for=1.0)))
    (tmp_path / "pods.json").write_text("[]")
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(prometheus_config("127.0.0.1", tmp_path / "pods.json", {"haproxy": 8001}, [rules]))
    result = subprocess.run(
        ["promtool", "check", "config", str(cfg)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


RULES = """
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 1m
      - record: job:up:sum
        expr: sum(up)
"""


def test_alert_for_override_shortens_every_alert_only(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    rules = load_rules(path, alert_for=2.0)
    assert rules["groups"][0]["rules"][0]["for"] == "2s"
    assert "for" not in rules["groups"][0]["rules"][1]
    assert alert_names(rules) == ["Down"]
    assert load_rules(path)["groups"][0]["rules"][0]["for"] == "1m"


def test_rules_inside_a_prometheus_rule_object_are_found(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nspec:" + RULES.replace("\n", "\n  ")
    )
    assert alert_names(load_rules(path)) == ["Down"]


def test_a_file_without_rule_groups_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("alerts: []\n")
    with pytest.raises(InvalidSpecError, match=r"rules\.yaml: groups"):
        load_rules(path)


def test_the_project_rules_have_the_alerts_experiments_expect(repo_root: Path) -> None:
    names = alert_names(load_rules(repo_root / "k8s" / "alert-rules.yaml"))
    assert {"MLServicePodsUnavailable", "MLServiceCircuitBreakerOpen"} <= set(names)
