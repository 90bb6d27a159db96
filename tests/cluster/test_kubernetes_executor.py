"""The Kubernetes executor against a real control plane: kube-apiserver with RBAC, the
controller-manager (ReplicaSets recreate pods), kwok nodes, and Chaos Mesh's own controller and
admission webhooks carrying out the objects the executor creates."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client import ApiClient

from runner.executors.base import ChaosExistsError, ChaosNotFoundError, Condition, DesiredPhase, RecordPhase
from runner.executors.cluster_errors import (
    ClusterTimeoutError,
    ClusterUnauthorizedError,
    ClusterUnreachableError,
    ManifestRejectedError,
)
from runner.executors.kubernetes import (
    GROUP,
    MANAGED_BY,
    RUN_LABEL,
    VERSION,
    KubernetesExecutor,
    find_labelled,
)
from testcluster.cluster import TestCluster
from tests.cluster.conftest import CHAOS_NAMESPACE, NAMESPACE, ready_pods, wait_until
from tests.cluster.manifests import seed, with_document

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]
PAUSE = "gcr.io/google-containers/pause:latest"


def _images(api: ApiClient) -> dict[str, str]:
    pods = client.CoreV1Api(api).list_namespaced_pod(NAMESPACE, label_selector="app=ml-prediction-service")
    return {
        p.metadata.name: p.spec.containers[0].image
        for p in pods.items
        if p.metadata.deletion_timestamp is None
    }


def _objects(api: ApiClient, plural: str = "podchaos") -> list[str]:
    reply = client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, CHAOS_NAMESPACE, plural
    )
    return [o["metadata"]["name"] for o in reply["items"]]


def test_pod_failure_is_carried_out_by_chaos_mesh_and_recovered_by_deleting_it(
    admin: ApiClient, tmp_path: Path
) -> None:
    executor = KubernetesExecutor(admin, run_id="run-pf")
    manifest = seed("pod-failure", tmp_path, value="50", duration="10m")
    before = _images(admin)
    assert len(before) == 4 and PAUSE not in before.values()

    status = executor.apply(manifest)

    assert status.conditions[Condition.ALL_INJECTED]
    assert len(status.records) == 2 and all(r.phase == RecordPhase.INJECTED for r in status.records)
    failed = {t for t in executor.targets(status)}
    images = _images(admin)
    assert {name for name, image in images.items() if image == PAUSE} == failed
    obj = client.CustomObjectsApi(admin).get_namespaced_custom_object(
        GROUP, VERSION, CHAOS_NAMESPACE, "podchaos", manifest.name
    )
    assert obj["metadata"]["labels"][RUN_LABEL] == "run-pf"
    assert obj["metadata"]["labels"][MANAGED_BY[0]] == MANAGED_BY[1]

    recovered = executor.recover(manifest.namespace, manifest.name)

    assert recovered.desired_phase == DesiredPhase.STOP and recovered.conditions[Condition.ALL_RECOVERED]
    assert manifest.name not in _objects(admin)
    assert _images(admin) == before  # the same pods, their images restored: not recreated
    assert [s.key for s in executor.statuses()] == [status.key]
    assert not executor.statuses()[0].active


def test_pod_kill_deletes_pods_and_the_replicaset_recreates_them(admin: ApiClient, tmp_path: Path) -> None:
    executor = KubernetesExecutor(admin, run_id="run-pk")
    manifest = seed("pod-kill-50", tmp_path)
    before = set(_images(admin))
    status = executor.apply(manifest)
    killed = set(executor.targets(status))
    assert len(killed) == 2 and killed <= before
    wait_until(
        lambda: not killed & set(_images(admin)) and len(ready_pods(admin)) == 4, what="pods recreated"
    )
    executor.recover(manifest.namespace, manifest.name)
    assert manifest.name not in _objects(admin)


def test_a_manifest_chaos_mesh_rejects_fails_in_the_dry_run_and_nothing_is_created(
    admin: ApiClient, tmp_path: Path
) -> None:
    executor = KubernetesExecutor(admin, run_id="run-bad")
    manifest = with_document(seed("pod-failure", tmp_path), value="150")
    with pytest.raises(ManifestRejectedError) as err:
        executor.apply(manifest)
    line = err.value.one_line()
    assert "\n" not in line and "150" in line and manifest.source in line and "create podchaos" in line
    assert manifest.name not in _objects(admin)
    assert executor.statuses() == []


def test_a_manifest_the_schema_rejects_names_the_field(admin: ApiClient, tmp_path: Path) -> None:
    executor = KubernetesExecutor(admin, run_id="run-422")
    manifest = with_document(seed("pod-failure", tmp_path), mode="every-other")
    with pytest.raises(ManifestRejectedError) as err:
        executor.apply(manifest)
    assert "spec.mode" in str(err.value) and "every-other" in str(err.value)
    assert manifest.name not in _objects(admin)


def test_an_object_of_that_name_already_there_is_a_conflict(admin: ApiClient, tmp_path: Path) -> None:
    manifest = seed("pod-failure", tmp_path)
    first = KubernetesExecutor(admin, run_id="run-a")
    first.apply(manifest)
    try:
        with pytest.raises(ChaosExistsError) as err:
            KubernetesExecutor(admin, run_id="run-b").apply(manifest)
        assert "409" in str(err.value) and manifest.name in str(err.value)
        with pytest.raises(ChaosExistsError):
            first.apply(manifest)
    finally:
        first.recover(manifest.namespace, manifest.name)


def test_network_chaos_goes_through_the_api_but_nothing_injects_it_here(
    admin: ApiClient, tmp_path: Path
) -> None:
    """No chaos-daemon runs on kwok nodes: the object is validated, stored and watched, Chaos Mesh
    reports it cannot inject, and deleting it still works."""
    executor = KubernetesExecutor(admin, run_id="run-net", inject_timeout=8.0)
    manifest = seed("network-latency", tmp_path)
    with pytest.raises(ClusterTimeoutError) as err:
        executor.apply(manifest)
    assert "injected: not reached after 8 s" in str(err.value)
    assert manifest.name in _objects(admin, "networkchaos")
    executor.recover(manifest.namespace, manifest.name)
    assert manifest.name not in _objects(admin, "networkchaos")


def test_a_dropped_watch_is_resumed(admin: ApiClient, tmp_path: Path) -> None:
    """The server closes each watch after 1 s; the executor opens the next one at the last
    resourceVersion and still sees the object recover by its own duration."""
    executor = KubernetesExecutor(admin, run_id="run-watch", watch_seconds=1)
    manifest = seed("pod-failure", tmp_path, value="25", duration="4s")
    executor.apply(manifest)
    executor.watch_stats.watches = 0

    def recovered(obj: dict | None) -> bool:  # type: ignore[type-arg]
        conditions = ((obj or {}).get("status") or {}).get("conditions") or []
        return any(c["type"] == "AllRecovered" and c["status"] == "True" for c in conditions)

    obj = executor._wait(manifest, recovered, 30.0, "recovered by its duration")
    assert obj is not None and recovered(obj)
    assert executor.watch_stats.watches >= 2
    executor.recover(manifest.namespace, manifest.name)


def test_cleanup_finds_objects_by_run_label_and_by_the_managed_by_label(
    admin: ApiClient, tmp_path: Path
) -> None:
    one, two = KubernetesExecutor(admin, run_id="run-one"), KubernetesExecutor(admin, run_id="run-two")
    m1, m2 = seed("pod-failure", tmp_path, value="25"), seed("pod-failure", tmp_path, value="25")
    one.apply(m1)
    two.apply(m2)
    try:
        mine = find_labelled(admin, [CHAOS_NAMESPACE], run_id="run-one")
        assert [(x.kind, x.name, x.run_id) for x in mine] == [("PodChaos", m1.name, "run-one")]
        every = {x.name for x in find_labelled(admin, [CHAOS_NAMESPACE])}
        assert {m1.name, m2.name} <= every
    finally:
        one.recover(m1.namespace, m1.name)
        two.recover(m2.namespace, m2.name)
    assert find_labelled(admin, [CHAOS_NAMESPACE], run_id="run-one") == []


def test_recovering_what_was_never_applied_is_an_error(admin: ApiClient) -> None:
    with pytest.raises(ChaosNotFoundError):
        KubernetesExecutor(admin, run_id="x").recover(CHAOS_NAMESPACE, "never-applied")


def test_bad_credentials_are_one_line_401(cluster: TestCluster, tmp_path: Path) -> None:
    path = cluster.write_kubeconfig("stranger", token="not-a-valid-token")
    api = config.new_client_from_config(str(path))
    with pytest.raises(ClusterUnauthorizedError) as err:
        KubernetesExecutor(api, run_id="x").apply(seed("pod-failure", tmp_path))
    assert "401" in err.value.one_line() and "\n" not in err.value.one_line()


def test_an_api_server_that_does_not_answer_is_one_line(cluster: TestCluster, tmp_path: Path) -> None:
    from testbed.ports import free_ports

    (port,) = free_ports(1)
    path = cluster.write_kubeconfig("nowhere", pair=cluster.admin)
    text = path.read_text().replace(cluster.server, f"https://127.0.0.1:{port}")
    path.write_text(text)
    api = config.new_client_from_config(str(path))
    api.configuration.retries = 0
    with pytest.raises(ClusterUnreachableError) as err:
        KubernetesExecutor(api, run_id="x").apply(seed("pod-failure", tmp_path))
    assert f"127.0.0.1:{port}" in str(err.value)
