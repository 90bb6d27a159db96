"""The `chaoslab` command line: a thin layer over the library."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from analysis.report import report_run
from analysis.score_render import FORMATS, headline
from chaos.validation import validate_paths
from cli.backend import (
    Backend,
    BackendOption,
    ContextOption,
    InClusterOption,
    KubeconfigOption,
    PrometheusOption,
    RulesOption,
    TargetOption,
)
from cli.common import configure_logging, err_console, reports_errors
from cli.gameday import gameday_command
from cli.run import cleanup_command, doctor_text, run_command
from cli.score import score_text
from cli.testbed import RunDirOption
from cli.testbed import app as testbed_app
from runner.prediction import DEFAULT_REPLICATIONS

app = typer.Typer(
    name="chaoslab",
    help="Predict, run and score chaos experiments on an ML prediction service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(testbed_app, name="testbed")
console = Console(highlight=False)
ReplicationsOption = Annotated[int, typer.Option("--replications", "-r", min=1, help="Simulator runs.")]
SeedOption = Annotated[int, typer.Option(help="Seed of pod choice, load and prediction.")]
JobsOption = Annotated[int | None, typer.Option(min=1, help="Simulator processes (default: one per CPU).")]


@app.callback()
def main() -> None:
    """Predict, run and score chaos experiments on an ML prediction service."""


@app.command()
@reports_errors
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Experiment files, manifests or folders of them.")],
) -> None:
    """Check experiment specs, system profiles and Chaos Mesh manifests; exit 1 on any problem."""
    files, problems = validate_paths(paths)
    for problem in problems:
        err_console.print(f"InvalidSpecError: {problem}", markup=False)
    if problems:
        err_console.print(f"{len(problems)} problem(s) in {len(files)} file(s)", markup=False)
        raise typer.Exit(1)
    console.print(f"{len(files)} file(s) valid")


@app.command()
@reports_errors
def run(
    spec: Annotated[Path, typer.Argument(help="The experiment spec (*.experiment.yaml).")],
    run_dir: RunDirOption = None,
    runs: Annotated[Path, typer.Option(help="Folder of run records.")] = Path("runs"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be touched; touch nothing.")
    ] = False,
    predict: Annotated[
        bool, typer.Option(help="Predict with the simulator first (recorded with the run).")
    ] = True,
    replications: ReplicationsOption = DEFAULT_REPLICATIONS,
    seed: SeedOption = 0,
    jobs: JobsOption = None,
    profile: Annotated[
        Path | None,
        typer.Option(
            "--profile",
            help="A system profile (e.g. from `sim calibrate`) instead of the one the spec names: "
            "the prediction and the checks use it, and the record keeps a copy.",
        ),
    ] = None,
    backend: BackendOption = "testbed",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    in_cluster: InClusterOption = False,
    target: TargetOption = None,
    prometheus: PrometheusOption = None,
    rules: RulesOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run an experiment on the testbed or a Kubernetes cluster: predict, load, inject, observe,
    recover, judge, record.

    Exit status: 0 every criterion passed, 3 a criterion failed, 1 refused/aborted/error, 130 interrupted."""
    configure_logging(verbose)
    where = Backend(backend, run_dir, kubeconfig, context, in_cluster, target, prometheus, rules)
    code = run_command(spec, where, runs, dry_run, predict, replications, seed, jobs, console, profile)
    if code:
        raise typer.Exit(code)


@app.command()
@reports_errors
def gameday(
    path: Annotated[Path, typer.Argument(help="The GameDay file (experiments/gameday.yaml).")],
    run_dir: RunDirOption = None,
    runs: Annotated[Path, typer.Option(help="Folder of run records.")] = Path("runs"),
    interactive: Annotated[
        bool,
        typer.Option(
            "--interactive",
            help="The on-call gets each first alert in the terminal and mitigates with Enter "
            "(else the rollback runs mitigation.automaticAfter after the first alert).",
        ),
    ] = False,
    predict: Annotated[bool, typer.Option(help="Predict each scenario first.")] = True,
    replications: ReplicationsOption = DEFAULT_REPLICATIONS,
    seed: SeedOption = 0,
    jobs: JobsOption = None,
    backend: BackendOption = "testbed",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    in_cluster: InClusterOption = False,
    target: TargetOption = None,
    prometheus: PrometheusOption = None,
    rules: RulesOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run a GameDay: its scenarios in order, each predicted and recorded as a run, the team's
    response times measured, then the debrief (gameday.md, gameday.html).

    Exit status: 0 every scenario completed, 1 one ended early (the GameDay stopped there)."""
    configure_logging(verbose)
    where = Backend(backend, run_dir, kubeconfig, context, in_cluster, target, prometheus, rules)
    code = gameday_command(path, where, runs, interactive, predict, replications, seed, jobs, console)
    if code:
        raise typer.Exit(code)


@app.command(name="doctor")
@reports_errors
def doctor_command(
    spec: Annotated[Path, typer.Argument(help="The experiment spec to check the cluster for.")],
    backend: BackendOption = "kubernetes",
    run_dir: RunDirOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    in_cluster: InClusterOption = False,
    prometheus: PrometheusOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Check that an experiment can run: API, Chaos Mesh, dry runs, RBAC, target pods, blast radius,
    Prometheus' alert rules (exit 1 on any failed check)."""
    configure_logging(verbose)
    raise typer.Exit(
        doctor_text(
            spec, Backend(backend, run_dir, kubeconfig, context, in_cluster, "-", prometheus or "-"), console
        )
    )


@app.command()
@reports_errors
def cleanup(
    run_dir: RunDirOption = None,
    sweep_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Also recover every pod failure and proxy fault on the testbed; on a cluster, delete "
            "every chaoslab-labelled chaos object.",
        ),
    ] = False,
    runs: Annotated[
        Path, typer.Option(help="Folder of run records (a cluster's crash marker is there).")
    ] = Path("runs"),
    backend: BackendOption = "testbed",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    in_cluster: InClusterOption = False,
    namespace: Annotated[str, typer.Option(help="kubernetes: the service's namespace.")] = "ml-services",
    chaos_namespace: Annotated[
        list[str] | None, typer.Option("--chaos-namespace", help="kubernetes: where chaos objects live.")
    ] = None,
) -> None:
    """Recover the chaos a crashed run left on the testbed or a cluster (from its crash marker)."""
    where = Backend(backend, run_dir, kubeconfig, context, in_cluster, "-", "-")
    chaos = tuple(chaos_namespace or ("chaos-testing",))
    raise typer.Exit(cleanup_command(where, runs, sweep_all, console, namespace, chaos))


@app.command()
@reports_errors
def score(
    runs: Annotated[
        list[Path], typer.Argument(help="Run records (runs/<experiment>-<time>/) or folders of them.")
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}.")] = "text",
    hindcast: Annotated[
        bool,
        typer.Option(help="Also re-predict each run from its own calibrated baseline and score that."),
    ] = False,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Processes for the hindcast (default: one per CPU).")
    ] = None,
) -> None:
    """Score each run's prediction (per metric: error, interval, grade; confidence and resilience
    scores) and, over several runs, the predictor's interval coverage. Needs no testbed."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format={fmt!r} must be one of {', '.join(FORMATS)}")
    text = score_text(runs, fmt, hindcast, jobs or os.cpu_count() or 1)
    console.print(text, end="", markup=False, highlight=False, soft_wrap=True)


@app.command()
@reports_errors
def report(
    run: Annotated[Path, typer.Argument(help="A run record (runs/<experiment>-<time>/).")],
) -> None:
    """Write the run's results.md, report.html and score.json from its record (no testbed needed)."""
    written = report_run(run)
    console.print(headline(written.card), markup=False, highlight=False)
    console.print(
        f"report: {written.results} and {written.html}", markup=False, highlight=False, soft_wrap=True
    )
