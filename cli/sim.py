"""The `sim` command line: predictions before anything runs."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from analysis.calibration import BLOCK, RESAMPLES, calibrate, calibrated_document, report
from analysis.record import RunData
from chaos.documents import read_document
from chaos.errors import ChaosLabError, InvalidSpecError, Problem
from chaos.spec import load_experiment
from chaos.system import parse_system_profile
from cli.common import err_console, reports_errors
from sim.forecast import forecast
from sim.from_spec import scenario_from_experiment
from sim.montecarlo import predict as run_prediction
from sim.promtool import EVALUATION_INTERVAL, evaluate_alerts, find_promtool, read_rule_groups
from sim.render import FORMATS, render

DEFAULT_RULES = Path("k8s/alert-rules.yaml")

app = typer.Typer(
    name="sim",
    help="Predict how the ML service behaves under an experiment, before it runs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


class OutputError(ChaosLabError):
    hint = "choose a writable --out path"


ProfileOption = Annotated[
    Path | None,
    typer.Option(
        "--profile",
        help="A system profile (e.g. from `sim calibrate`) instead of the one the spec names.",
    ),
]


@app.callback()
def main() -> None:
    """Simulate chaos experiments on the system profile (SimPy, Monte Carlo)."""


@app.command()
@reports_errors
def predict(
    spec: Annotated[Path, typer.Argument(help="An experiment spec (*.experiment.yaml).")],
    replications: Annotated[int, typer.Option("--replications", "-r", min=1, help="Monte Carlo runs.")] = 20,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same numbers.")] = 0,
    jobs: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: one per CPU).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json or markdown.")] = "text",
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
    alerts: Annotated[
        bool, typer.Option(help="Evaluate the alert rules on every replication (needs promtool).")
    ] = True,
    rules: Annotated[Path, typer.Option(help="Prometheus alert rules.")] = DEFAULT_RULES,
    alert_interval: Annotated[
        int, typer.Option(min=1, help="Seconds between evaluations of the alert rules.")
    ] = EVALUATION_INTERVAL,
    profile: ProfileOption = None,
) -> None:
    """Fill the hypothesis blanks and predict each success criterion, with 90 % intervals; with the
    alert rules evaluated on every replication by promtool, which alerts fire and when."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"format={fmt!r} must be one of {', '.join(FORMATS)}", param_hint="--format")
    experiment = load_experiment(spec, profile)
    sets = experiment.system.parameter_sets
    if sets:
        err_console.print(
            f"{experiment.system.source}: {len(sets)} calibrated parameter sets; replication i runs set "
            f"i mod {len(sets)}",
            markup=False,
        )
    scenario = scenario_from_experiment(experiment)
    if alerts:  # before simulating: fail at once without promtool or a readable rules file
        find_promtool()
        read_rule_groups(rules)
    show_progress = err_console.is_terminal and not os.environ.get("CI")
    with Progress(
        TextColumn("simulating {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=not show_progress,
        transient=True,
    ) as bar:
        task = bar.add_task(experiment.name, total=replications)
        prediction = run_prediction(
            experiment.system,
            scenario,
            replications=replications,
            seed=seed,
            jobs=jobs,
            progress=lambda done, total: bar.update(task, completed=done),
        )
        fired = None
        if alerts:
            bar.update(task, description=f"{experiment.name}: alert rules", completed=0)
            fired = evaluate_alerts(
                prediction,
                experiment.system,
                rules,
                since=scenario.fault_start() or 0.0,
                version=scenario.model_version,
                evaluation=alert_interval,
                jobs=jobs or os.cpu_count() or 1,
                progress=lambda done, total: bar.update(task, completed=done),
            )
    output = render(forecast(experiment, prediction, fired), fmt)
    if out is None:
        Console(highlight=False, soft_wrap=True).print(output, end="", markup=False)
        return
    _write(out, output)


def _write(out: Path, text: str) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror}") from exc
    err_console.print(f"wrote {out}", markup=False)


@app.command(name="calibrate")
@reports_errors
def calibrate_command(
    run_dir: Annotated[Path, typer.Argument(help="A run record (runs/<experiment>-<time>/).")],
    out: Annotated[
        Path | None, typer.Option(help="Write the calibrated profile here (default: standard output).")
    ] = None,
    resamples: Annotated[
        int, typer.Option(min=0, help="Bootstrap resamples of the baseline: the profile's parameter sets.")
    ] = RESAMPLES,
    block: Annotated[float, typer.Option(min=1.0, help="Bootstrap block length, seconds.")] = BLOCK,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the simulations and the bootstrap.")] = 0,
    jobs: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: one per CPU).")] = None,
) -> None:
    """Fit the service time, feature-store latency and request overhead to a run's baseline."""
    data = RunData.load(run_dir)
    source = Path(data.experiment.system.source)
    original = read_document(source)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    workers = jobs if jobs is not None else os.cpu_count() or 1
    result = calibrate(data, resamples, block, seed, jobs=workers, run=str(run_dir), calibrated=stamp)
    document = calibrated_document(original, result)
    header = (
        f"# Calibrated by `sim calibrate` from the run record {run_dir} ({stamp}),\n"
        f"# starting from the profile {source}; sim/README.md (Calibration) says how.\n"
    )
    text = header + yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=110)
    _check_profile(text, str(out or "<calibrated profile>"))
    table = "\n".join(report(result)) + "\n"
    if out is None:
        err_console.print(table, end="", markup=False)
        Console(highlight=False, soft_wrap=True).print(text, end="", markup=False)
        return
    _write(out, text)
    Console(highlight=False, soft_wrap=True).print(table, end="", markup=False)


def _check_profile(text: str, name: str) -> None:
    """The written profile must load as any other does (a bug here is ours, not the user's)."""
    problems: list[Problem] = []
    data: Any = yaml.safe_load(text)
    parse_system_profile(data, name, problems)
    if problems:
        raise InvalidSpecError(problems)
