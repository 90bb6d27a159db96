"""Start and stop the test cluster: a real control plane on loopback ports, in a folder of its own.

    cluster = TestCluster.start(folder)        # etcd, kube-apiserver, controller-manager, scheduler,
    ...                                        # kwok, Chaos Mesh CRDs + webhooks + controller
    cluster.stop()                             # every process it started, whatever happened

The API server runs with RBAC on and client-certificate authentication; `admin.kubeconfig` is a
member of system:masters. Chaos Mesh's admission webhooks are registered with the API server by URL
(127.0.0.1), so a manifest Chaos Mesh would reject is rejected here too, dry runs included.
Nodes are kwok's (`add_node`): their pods go Running and Ready without containers, unless a pod
carries kwok's `kwok.x-k8s.io/status: custom` annotation, in which case something else (the
testbed bridge) writes its status.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes import client

from chaos.errors import PrerequisiteError
from chaos.processes import ProcessRecord, is_alive, record_of, spawn, stop
from testbed.ports import free_ports
from testcluster.certs import Authority, Pair, signing_key

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "chaos-controller-manager",
)
READY_TIMEOUT = 90.0
"""Seconds each component gets to become ready (a cold API server takes a few)."""
KWOK_NODE = {"kwok.x-k8s.io/node": "fake"}
"""The annotation that makes kwok manage a node."""
CUSTOM_STATUS = {"kwok.x-k8s.io/status": "custom"}
"""The annotation that makes kwok leave a pod's status to someone else."""
WEBHOOK_KINDS = ("podchaos", "networkchaos", "schedule", "workflow", "statuscheck")
PLURALS = {"schedule": "schedules", "workflow": "workflows", "statuscheck": "statuschecks"}
CHAOS_NAMESPACE = "chaos-mesh"


class ControlPlaneMissingError(PrerequisiteError):
    """The control-plane binaries have not been built on this machine."""

    hint = "build them: bash scripts/build-control-plane.sh"


def output_dir() -> Path:
    """Where scripts/build-control-plane.sh puts binaries and CRDs."""
    return Path(os.environ.get("CHAOSLAB_CONTROL_PLANE", ROOT / "build" / "control-plane"))


def binaries() -> dict[str, Path]:
    """Every component's binary; ControlPlaneMissingError names the first that is missing."""
    found = {name: output_dir() / "bin" / name for name in COMPONENTS}
    for name, path in found.items():
        if not os.access(path, os.X_OK):
            raise ControlPlaneMissingError(f"{name} is not built ({path} is missing)")
    if not list((output_dir() / "crds").glob("*.yaml")):
        raise ControlPlaneMissingError(f"the Chaos Mesh CRDs are missing ({output_dir() / 'crds'})")
    return found


def available() -> bool:
    """True when every component is built (tests skip-or-fail on this; CI builds them)."""
    try:
        binaries()
    except ControlPlaneMissingError:
        return False
    return True


@dataclass
class TestCluster:
    folder: Path
    api_port: int
    webhook_port: int
    ca: Pair
    admin: Pair
    processes: dict[str, ProcessRecord] = field(default_factory=dict)
    chaos_metrics_port: int | None = None
    """Where Chaos Mesh's controller-manager serves its Prometheus metrics."""
    _authority: Authority | None = None

    __test__ = False  # not a pytest test class

    # -- starting ------------------------------------------------------------------------------------
    @classmethod
    def start(cls, folder: Path, chaos_mesh: bool = True) -> TestCluster:
        """Start every component in `folder`; on any failure, stop what was started and raise."""
        bins = binaries()
        folder.mkdir(parents=True, exist_ok=True)
        pki = folder / "pki"
        authority = Authority.create(pki)
        api_port, webhook_port, etcd_port, peer_port, metrics_port, kwok_port = free_ports(6)
        admin = authority.issue(pki, "admin", "chaoslab-admin", groups=("system:masters",))
        cluster = cls(folder, api_port, webhook_port, authority.pair, admin, _authority=authority)
        try:
            cluster._start_etcd(bins, etcd_port, peer_port)
            cluster._start_apiserver(bins, etcd_port)
            cluster._start_controllers(bins, kwok_port)
            if chaos_mesh:
                cluster._install_chaos_mesh(bins, metrics_port)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        process = spawn(name, argv, self.folder / "logs" / f"{name}.log", env=env, cwd=self.folder)
        self.processes[name] = record_of(name, process.pid, argv)

    def _start_etcd(self, bins: dict[str, Path], port: int, peer: int) -> None:
        url, peer_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer}"
        self._spawn(
            "etcd",
            [
                str(bins["etcd"]),
                "--name=default",
                f"--data-dir={self.folder / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait("etcd", lambda: httpx.get(f"{url}/health", timeout=2).status_code == 200)
        self._etcd_url = url

    def _start_apiserver(self, bins: dict[str, Path], etcd_port: int) -> None:
        assert self._authority is not None
        pki = self.folder / "pki"
        serving = self._authority.issue(
            pki, "apiserver", "kube-apiserver", hosts=("127.0.0.1", "localhost", "kubernetes"), server=True
        )
        sa = signing_key(pki)
        self._spawn(
            "kube-apiserver",
            [
                str(bins["kube-apiserver"]),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=192.0.2.1",  # TEST-NET-1: never dialled; loopback is refused here
                f"--secure-port={self.api_port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={self.ca.cert}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--v=1",
            ],
        )
        self._wait("kube-apiserver", lambda: self._get("/readyz").status_code == 200)

    def _start_controllers(self, bins: dict[str, Path], kwok_port: int) -> None:
        assert self._authority is not None
        pki = self.folder / "pki"
        kcm = self._authority.issue(pki, "controller-manager", "system:kube-controller-manager")
        scheduler = self._authority.issue(pki, "scheduler", "system:kube-scheduler")
        self._spawn(
            "kube-controller-manager",
            [
                str(bins["kube-controller-manager"]),
                f"--kubeconfig={self.write_kubeconfig('controller-manager', kcm)}",
                "--leader-elect=false",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={self.ca.cert}",
                "--use-service-account-credentials=true",
                "--secure-port=0",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-route,-service",
                "--v=1",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(bins["kube-scheduler"]),
                f"--kubeconfig={self.write_kubeconfig('scheduler', scheduler)}",
                "--leader-elect=false",
                "--secure-port=0",
                "--v=1",
            ],
        )
        selector = ",".join(f"{k}={v}" for k, v in KWOK_NODE.items())
        ignored = ",".join(f"{k}={v}" for k, v in CUSTOM_STATUS.items())
        self._spawn(
            "kwok",
            [
                str(bins["kwok"]),
                f"--kubeconfig={self.kubeconfig}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={selector}",
                f"--disregard-status-with-annotation-selector={ignored}",
                "--cidr=10.0.0.1/24",
                "--node-ip=10.0.0.1",
                f"--server-address=127.0.0.1:{kwok_port}",
                # heartbeats by Lease: without one kwok posts node status about once a minute,
                # past the node lifecycle controller's 50 s grace, which then marks every pod of
                # the node not ready for a moment each minute
                "--node-lease-duration-seconds=40",
            ],
        )
        # the default service account exists once the controller-manager's controller made it
        self._wait(
            "kube-controller-manager",
            lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default").status_code == 200,
        )

    def _install_chaos_mesh(self, bins: dict[str, Path], metrics_port: int) -> None:
        assert self._authority is not None
        crds = sorted((output_dir() / "crds").glob("*.yaml"))
        for crd in crds:
            self.apply(yaml.safe_load(crd.read_text()))
        for crd in crds:
            name = yaml.safe_load(crd.read_text())["metadata"]["name"]
            path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
            self._wait(f"CRD {name}", lambda p=path: _established(self._get(p)))
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CHAOS_NAMESPACE}})
        certs = self.folder / "chaos-mesh-certs"
        certs.mkdir(exist_ok=True)
        serving = self._authority.issue(certs, "tls", "chaos-mesh-webhook", hosts=("127.0.0.1",), server=True)
        serving.cert.rename(certs / "tls.crt")
        serving.key.rename(certs / "tls.key")
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "CERTS_DIR": str(certs),
            "WEBHOOK_HOST": "127.0.0.1",
            "WEBHOOK_PORT": str(self.webhook_port),
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(metrics_port),
            "ENABLE_LEADER_ELECTION": "false",
            "SECURITY_MODE": "false",
            "CLUSTER_SCOPED": "true",
            "NAMESPACE": CHAOS_NAMESPACE,
            "TEMPLATE_NAMESPACE": CHAOS_NAMESPACE,
        }
        self._spawn("chaos-controller-manager", [str(bins["chaos-controller-manager"])], env=env)
        self.chaos_metrics_port = metrics_port
        self._wait("chaos-controller-manager webhook", self._webhook_up)
        self._register_webhooks()

    def _webhook_up(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"https://127.0.0.1:{self.webhook_port}/", verify=self._tls(False), timeout=2)
            return True
        return False

    def _register_webhooks(self) -> None:
        bundle = base64.b64encode(self.ca.cert.read_bytes()).decode()
        base = f"https://127.0.0.1:{self.webhook_port}"

        def hooks(prefix: str, verb: str) -> list[dict[str, Any]]:
            return [
                {
                    "name": f"{prefix}{kind}.kb.io",
                    "clientConfig": {
                        "url": f"{base}/{verb}-chaos-mesh-org-v1alpha1-{kind}",
                        "caBundle": bundle,
                    },
                    "rules": [
                        {
                            "apiGroups": ["chaos-mesh.org"],
                            "apiVersions": ["v1alpha1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": [PLURALS.get(kind, kind)],
                        }
                    ],
                    "failurePolicy": "Fail",
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1", "v1beta1"],
                    "timeoutSeconds": 5,
                }
                for kind in WEBHOOK_KINDS
            ]

        group = "admissionregistration.k8s.io/v1"
        self.apply(
            {
                "apiVersion": group,
                "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": "chaos-mesh-mutation"},
                "webhooks": hooks("m", "mutate"),
            }
        )
        self.apply(
            {
                "apiVersion": group,
                "kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": "chaos-mesh-validation"},
                "webhooks": hooks("v", "validate"),
            }
        )

    # -- using it -------------------------------------------------------------------------------------
    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        """The admin's kubeconfig (system:masters)."""
        path = self.folder / "admin.kubeconfig"
        if not path.exists():
            self.write_kubeconfig("admin", self.admin)
        return path

    def write_kubeconfig(self, user: str, pair: Pair | None = None, token: str | None = None) -> Path:
        """A kubeconfig for `user`, by client certificate or bearer token; context "test-cluster"."""
        credentials: dict[str, str] = {}
        if pair is not None:
            credentials = {"client-certificate": str(pair.cert), "client-key": str(pair.key)}
        if token is not None:
            credentials = {"token": token}
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test-cluster",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca.cert)},
                }
            ],
            "users": [{"name": user, "user": credentials}],
            "contexts": [{"name": "test-cluster", "context": {"cluster": "test-cluster", "user": user}}],
            "current-context": "test-cluster",
        }
        path = self.folder / f"{user}.kubeconfig"
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        return path

    def _tls(self, client_cert: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca.cert))
        if client_cert:
            context.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        return context

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server, verify=self._tls())

    def _get(self, path: str) -> httpx.Response:
        with self._client() as client:
            return client.get(path, timeout=5)

    def apply(self, obj: dict[str, Any]) -> None:
        """Create or update `obj` by server-side apply, as the admin."""
        group, _, version = obj["apiVersion"].rpartition("/")
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        plural = _plural(obj["kind"])
        namespace = obj["metadata"].get("namespace")
        path = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
        with self._client() as client:
            reply = client.patch(
                f"{path}/{obj['metadata']['name']}",
                params={"fieldManager": "chaoslab-test-cluster", "force": "true"},
                headers={"Content-Type": "application/apply-patch+yaml"},
                content=yaml.safe_dump(obj),
                timeout=30,
            )
        if reply.status_code >= 300:
            raise RuntimeError(
                f"applying {obj['kind']} {obj['metadata']['name']}: {reply.status_code} {reply.text}"
            )

    def add_node(self, name: str, labels: dict[str, str] | None = None, pods: int = 110) -> None:
        """A kwok node: Ready, schedulable, running its pods without containers."""
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": dict(KWOK_NODE),
                    "labels": {"kubernetes.io/hostname": name, "type": "kwok", **(labels or {})},
                },
                "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": str(pods)}},
            }
        )
        path = f"/api/v1/nodes/{name}"
        self._wait(f"node {name}", lambda: _node_ready(self._get(path)))

    # -- stopping -------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every process this cluster started, newest first; never raises."""
        for name in reversed(list(self.processes)):
            try:
                stop(self.processes[name])
            except Exception:  # stopping the rest matters more than this one's error
                log.exception("stopping %s", name)
        self.processes.clear()

    def _wait(self, what: str, ready: Any) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            for name, record in self.processes.items():
                if not is_alive(record):
                    log_file = self.folder / "logs" / f"{name}.log"
                    raise RuntimeError(f"{name} exited while waiting for {what}: see {log_file}")
            with contextlib.suppress(httpx.HTTPError, OSError):
                if ready():
                    return
            time.sleep(0.2)
        raise TimeoutError(f"{what} not ready after {READY_TIMEOUT:g} s (logs in {self.folder / 'logs'})")


def _plural(kind: str) -> str:
    lower = kind.lower()
    return lower + ("es" if lower.endswith("s") else "s")


def _established(reply: httpx.Response) -> bool:
    if reply.status_code != 200:
        return False
    conditions = reply.json().get("status", {}).get("conditions", [])
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def _node_ready(reply: httpx.Response) -> bool:
    if reply.status_code != 200:
        return False
    conditions = reply.json().get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@contextlib.contextmanager
def running(folder: Path, chaos_mesh: bool = True) -> Iterator[TestCluster]:
    """A started cluster that is stopped on the way out, whatever happens."""
    cluster = TestCluster.start(folder, chaos_mesh=chaos_mesh)
    try:
        yield cluster
    finally:
        cluster.stop()


def deploy_service(cluster: TestCluster, replicas: int, bridged: bool = False) -> None:
    """k8s/namespace.yaml and k8s/deployment.yaml, as a user applies them, with `replicas`; with
    `bridged`, its pods carry kwok's custom-status annotation (the testbed bridge writes it)."""
    for doc in yaml.safe_load_all((ROOT / "k8s" / "namespace.yaml").read_text()):
        cluster.apply(doc)
    deployment = yaml.safe_load((ROOT / "k8s" / "deployment.yaml").read_text())
    deployment["spec"]["replicas"] = replicas
    if bridged:
        deployment["spec"]["template"]["metadata"].setdefault("annotations", {}).update(CUSTOM_STATUS)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:  # the namespace's default service account comes from the controller-manager
        try:
            cluster.apply(deployment)
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def ready_pods(
    api: Any, namespace: str = "ml-services", selector: str = "app=ml-prediction-service"
) -> list[Any]:
    """The pods of the service that exist (not being deleted) and are Ready."""
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items
    return [
        p
        for p in pods
        if p.metadata is not None
        and p.metadata.deletion_timestamp is None
        and p.status is not None
        and any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))
    ]
