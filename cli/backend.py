"""The `--backend` options `chaoslab run` and `chaoslab cleanup` share, and the seams they open.

--backend testbed        (default) the embedded testbed, found by --run-dir
--backend kubernetes     a cluster: --kubeconfig/--context (or --in-cluster), --target (the
                         service's URL for the load), --prometheus (its Prometheus' URL),
                         --rules (a Prometheus rules file, to predict the alerts)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from chaos.errors import ChaosLabError
from chaos.spec import Experiment
from runner.backend import ClusterTarget, cluster_seams, open_testbed, testbed_seams
from runner.seams import Seams

BACKENDS = ("testbed", "kubernetes")

BackendOption = Annotated[str, typer.Option("--backend", help=f"Where to run: {' or '.join(BACKENDS)}.")]
KubeconfigOption = Annotated[
    Path | None,
    typer.Option("--kubeconfig", help="kubernetes: the kubeconfig (default: KUBECONFIG or ~/.kube/config)."),
]
ContextOption = Annotated[str | None, typer.Option("--context", help="kubernetes: the kubeconfig context.")]
InClusterOption = Annotated[
    bool,
    typer.Option("--in-cluster", help="kubernetes: use the pod's service account instead of a kubeconfig."),
]
TargetOption = Annotated[
    str | None, typer.Option("--target", help="kubernetes: the service's URL the load is sent to.")
]
PrometheusOption = Annotated[
    str | None, typer.Option("--prometheus", help="kubernetes: the URL of the Prometheus that scrapes it.")
]
RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules", help="kubernetes: a Prometheus rules file, so that the alerts are predicted too."
    ),
]


class BackendOptionError(ChaosLabError):
    hint = "see `chaoslab run --help`; docs/kubernetes.md shows a full command"


@dataclass(frozen=True)
class Backend:
    kind: str = "testbed"
    run_dir: Path | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False
    target: str | None = None
    prometheus: str | None = None
    rules: Path | None = None

    def check(self) -> None:
        if self.kind not in BACKENDS:
            raise BackendOptionError(f"--backend: {self.kind!r} is not one of {', '.join(BACKENDS)}")
        if self.kind == "kubernetes":
            missing = [
                name
                for name, value in (("--target", self.target), ("--prometheus", self.prometheus))
                if not value
            ]
            if missing:
                raise BackendOptionError(f"--backend kubernetes needs {' and '.join(missing)}")
        elif any((self.kubeconfig, self.context, self.in_cluster, self.target, self.prometheus, self.rules)):
            raise BackendOptionError(
                "--kubeconfig, --context, --in-cluster, --target, --prometheus and --rules "
                "are for --backend kubernetes"
            )

    def cluster(self) -> ClusterTarget:
        assert self.target is not None and self.prometheus is not None
        return ClusterTarget(self.kubeconfig, self.context, self.target, self.prometheus, self.in_cluster)


@contextmanager
def open_seams(
    backend: Backend,
    experiment: Experiment,
    runs_root: Path,
    seed: int,
    predict: bool,
    replications: int,
    jobs: int | None,
) -> Iterator[Seams]:
    """The runner's seams on the chosen backend, closed after."""
    backend.check()
    if backend.kind == "kubernetes":
        with cluster_seams(
            experiment, backend.cluster(), runs_root, seed, predict, replications, jobs, backend.rules
        ) as seams:
            yield seams
        return
    with (
        open_testbed(backend.run_dir) as testbed,
        testbed_seams(testbed, seed, predict, replications, jobs) as seams,
    ):
        yield seams
