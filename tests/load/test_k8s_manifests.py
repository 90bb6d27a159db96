"""The Locust manifests: valid objects, a master and workers that find each other, settings the
locustfiles read, and load that agrees with experiments/system.yaml and the service it targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from chaos.system import load_system_profile
from load._plan import SETTINGS, Settings, env_name, resolve_plan
from tests.k8s.manifests import K8S, container, documents, env, find

KUBERNETES_VERSION = "1.30"
KNOWN_VARIABLES = {env_name(s) for s in SETTINGS} | {"CHAOSLAB_RECORD_DIR", "CHAOSLAB_SEED"}


def flags(c: dict[str, Any]) -> dict[str, str]:
    """`--name=value` arguments as a mapping (bare flags map to "")."""
    out = {}
    for arg in c["args"]:
        name, _, value = arg.partition("=")
        out[name] = value
    return out


@pytest.mark.parametrize(
    ("file", "kinds"), [("locust-master.yaml", ["Service", "Job"]), ("locust-worker.yaml", ["Deployment"])]
)
def test_the_locust_manifests_validate(file: str, kinds: list[str]) -> None:
    docs = documents(K8S / file)
    assert [doc["kind"] for doc in docs] == kinds
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_workers_connect_to_the_master_service_and_the_master_waits_for_all_of_them() -> None:
    service = find("Service", "locust-master", "locust-master.yaml")
    master = find("Job", "locust-master", "locust-master.yaml")
    workers = find("Deployment", "locust-worker", "locust-worker.yaml")
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert service["spec"]["selector"].items() <= master["spec"]["template"]["metadata"]["labels"].items()
    worker_flags = flags(container(workers))
    assert "--worker" in worker_flags
    assert worker_flags["--master-host"] == service["metadata"]["name"]
    assert int(worker_flags["--master-port"]) == ports["workers"]
    master_flags = flags(container(master))
    assert "--master" in master_flags
    assert int(master_flags["--expect-workers"]) == workers["spec"]["replicas"]
    assert container(master)["image"] == container(workers)["image"]
    assert (
        master["metadata"]["namespace"]
        == workers["metadata"]["namespace"]
        == service["metadata"]["namespace"]
    )


def test_the_master_targets_the_prediction_service() -> None:
    service = find("Service", "ml-prediction-service", "service.yaml")
    host = flags(container(find("Job", "locust-master", "locust-master.yaml")))["--host"]
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    port = service["spec"]["ports"][0]["port"]
    assert host == f"http://{name}.{namespace}.svc.cluster.local" + ("" if port == 80 else f":{port}")


def test_the_settings_are_the_ones_the_locustfiles_read_and_agree_with_the_profile(repo_root: Path) -> None:
    master = env(find("Job", "locust-master", "locust-master.yaml"))
    workers = env(find("Deployment", "locust-worker", "locust-worker.yaml"))
    assert set(master) | set(workers) <= KNOWN_VARIABLES
    assert master["CHAOSLAB_RECORD_DIR"] == workers["CHAOSLAB_RECORD_DIR"]
    plan = resolve_plan(Settings.from_env(master))
    profile = load_system_profile(repo_root / "experiments" / "system.yaml")
    load = profile.load
    assert (plan.rps, plan.users, plan.arrival) == (load.rps, load.users, load.arrival)
    assert plan.timeout == profile.client.timeout
    assert [p.name for p in plan.phases] == ["baseline", "chaos", "recovery"]


def test_records_go_to_a_mounted_volume() -> None:
    for file, kind, name in (
        ("locust-master.yaml", "Job", "locust-master"),
        ("locust-worker.yaml", "Deployment", "locust-worker"),
    ):
        obj = find(kind, name, file)
        mounts = {m["mountPath"] for m in container(obj).get("volumeMounts", [])}
        assert env(obj)["CHAOSLAB_RECORD_DIR"] in mounts, file


def test_the_image_holds_the_locustfiles_and_scikit_learn() -> None:
    dockerfile = (K8S.parent / "load" / "Dockerfile").read_text()
    assert "scikit-learn" in dockerfile
    assert "COPY --chown=locust:locust load/*.py /home/locust/load/" in dockerfile
    assert "ENV PYTHONPATH=/home/locust\n" in dockerfile  # the locustfiles import the `load` package
    tag = container(find("Job", "locust-master", "locust-master.yaml"))["image"]
    assert f"-t {tag} .\n" in dockerfile
