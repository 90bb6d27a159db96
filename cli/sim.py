"""The `sim` command line: predictions before anything runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chaos.errors import ChaosLabError
from chaos.spec import load_experiment
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
) -> None:
    """Fill the hypothesis blanks and predict each success criterion, with 90 % intervals; with the
    alert rules evaluated on every replication by promtool, which alerts fire and when."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"format={fmt!r} must be one of {', '.join(FORMATS)}", param_hint="--format")
    experiment = load_experiment(spec)
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
                evaluation=alert_interval,
                jobs=jobs or os.cpu_count() or 1,
                progress=lambda done, total: bar.update(task, completed=done),
            )
    output = render(forecast(experiment, prediction, fired), fmt)
    if out is None:
        Console(highlight=False, soft_wrap=True).print(output, end="", markup=False)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(output, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror}") from exc
    err_console.print(f"wrote {out}", markup=False)
