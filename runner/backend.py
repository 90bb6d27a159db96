"""A backend's seams for the runner: the embedded testbed, or a Kubernetes cluster.

`open_testbed` finds the running testbed (a prerequisite error naming how to start one when none
runs); `testbed_seams` wires the runner to it: its local executor, its Prometheus, Locust against
its HAProxy frontend, the simulator's prediction, the system clock.

`open_cluster` reads a kubeconfig (or the in-cluster service account) into an API client;
`cluster_seams` wires the runner to the cluster: the Kubernetes executor (Chaos Mesh objects
labelled with a run id), the cluster's view of the service, the user's Prometheus, Locust against
`target`. Its crash marker lives on this machine, under runs/kubernetes/, one per cluster and
namespace, and names the cluster, the namespace and every object in flight.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from chaos.errors import PrerequisiteError
from chaos.spec import Experiment
from runner.doctor import doctor, require
from runner.executors.base import SystemClock
from runner.executors.cluster_view import ClusterSystem
from runner.executors.kubernetes import KubernetesExecutor
from runner.executors.testbed import LocalTestbed, local_executor
from runner.load_driver import LoadRun
from runner.marker import Marker
from runner.prediction import alert_interval, predict_run
from runner.prerequisites import START_HINT, prerequisite_error
from runner.prometheus import PrometheusApi
from runner.seams import LoadHandle, Predictor, Seams
from sim.forecast_summary import ForecastSummary
from testbed.client import TestbedNotRunningError
from testbed.rundir import default_run_dir


@contextmanager
def open_testbed(run_dir: Path | None) -> Iterator[LocalTestbed]:
    """The testbed running from `run_dir` (default: runs/testbed), closed after."""
    try:
        testbed = LocalTestbed.open((run_dir or default_run_dir()).resolve())
    except TestbedNotRunningError as exc:
        raise prerequisite_error(f"no testbed is running: {exc}", START_HINT) from exc
    try:
        yield testbed
    finally:
        testbed.close()


def run_predictor(
    prometheus: PrometheusApi, rules: Path | None, replications: int, seed: int, jobs: int | None
) -> Predictor:
    """The run's prediction: `rules` evaluated as often as `prometheus` evaluates them."""

    def predictor(experiment: Experiment) -> ForecastSummary:
        return predict_run(
            experiment,
            replications=replications,
            seed=seed,
            jobs=jobs,
            rules=rules,
            evaluation=alert_interval(prometheus, rules),
        )

    return predictor


@contextmanager
def testbed_seams(
    testbed: LocalTestbed, seed: int, predict: bool, replications: int, jobs: int | None
) -> Iterator[Seams]:
    """The runner's seams on the embedded testbed (Prometheus' connection closed after)."""

    def start_load(folder: Path, experiment: Experiment, settle: float) -> LoadHandle:
        return LoadRun.start(testbed.service_url, folder, experiment, seed=seed, settle=settle)

    prometheus = PrometheusApi(testbed.prometheus_url)
    predictor = run_predictor(prometheus, testbed.rules_file, replications, seed, jobs) if predict else None
    try:
        yield Seams(
            clock=SystemClock(),
            executor=local_executor(testbed.client.run_dir, seed=seed),
            start_load=start_load,
            prometheus=prometheus,
            testbed=testbed,
            predictor=predictor,
        )
    finally:
        prometheus.close()


@dataclass(frozen=True)
class ClusterTarget:
    """Where a cluster run goes: the API (kubeconfig and context, or in-cluster), the service's
    URL for the load, Prometheus' URL."""

    kubeconfig: Path | None
    context: str | None
    target: str
    prometheus: str
    in_cluster: bool = False


class KubeconfigError(PrerequisiteError):
    hint = (
        "pass --kubeconfig FILE (and --context NAME), set KUBECONFIG, or run in a pod with a service account"
    )


def open_cluster(where: ClusterTarget) -> tuple[client.ApiClient, str]:
    """An API client for the cluster, and a one-line description of it for messages and markers."""
    try:
        if where.in_cluster:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            api = client.ApiClient()
            name = "in-cluster"
        else:
            path = str(where.kubeconfig) if where.kubeconfig is not None else None
            api = config.new_client_from_config(config_file=path, context=where.context)  # type: ignore[no-untyped-call]
            name = where.context or _current_context(path)
    except (ConfigException, OSError, TypeError, ValueError) as exc:
        source = where.kubeconfig or "the default kubeconfig"
        raise KubeconfigError(f"{source}: cannot load a cluster configuration: {exc}") from None
    return api, f"cluster {name} at {api.configuration.host}"


def _current_context(path: str | None) -> str:
    try:
        _, current = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError):
        return "?"
    return str(current.get("name", "?"))


def cluster_marker(runs_root: Path, location: str, namespace: str) -> Marker:
    """The crash marker of runs on one cluster and namespace, under runs_root/kubernetes/."""
    digest = hashlib.sha256(f"{location} {namespace}".encode()).hexdigest()[:12]
    folder = runs_root / "kubernetes" / f"{namespace}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    return Marker.of_testbed(folder)


@contextmanager
def cluster_seams(
    experiment: Experiment,
    where: ClusterTarget,
    runs_root: Path,
    seed: int,
    predict: bool,
    replications: int,
    jobs: int | None,
    rules: Path | None = None,
) -> Iterator[Seams]:
    """The runner's seams on a Kubernetes cluster (API and Prometheus connections closed after)."""
    api, location = open_cluster(where)
    require(doctor(api, experiment, where.prometheus))
    namespace = experiment.system.service.namespace
    run_id = f"{experiment.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    chaos_namespaces = tuple(sorted({step.manifest.namespace for step in experiment.chaos})) or (
        "chaos-testing",
    )
    system = ClusterSystem(
        api,
        experiment.system,
        where.target,
        where.prometheus,
        f"{location}, namespace {namespace}, run label chaoslab.dev/run={run_id}",
        chaos_namespaces,
    )

    def start_load(folder: Path, exp: Experiment, settle: float) -> LoadHandle:
        return LoadRun.start(where.target, folder, exp, seed=seed, settle=settle)

    prometheus = PrometheusApi(where.prometheus)
    predictor = run_predictor(prometheus, rules, replications, seed, jobs) if predict else None
    try:
        yield Seams(
            clock=SystemClock(),
            executor=KubernetesExecutor(api, run_id),
            start_load=start_load,
            prometheus=prometheus,
            testbed=system,
            predictor=predictor,
            marker=cluster_marker(runs_root, location, namespace),
        )
    finally:
        prometheus.close()
        api.close()  # type: ignore[no-untyped-call]
