"""The `chaoslab` command line: a thin layer over the library."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chaos._cli import err_console, reports_errors
from chaos.validation import validate_paths
from testbed.cli import app as testbed_app

app = typer.Typer(
    name="chaoslab",
    help="Predict, run and score chaos experiments on an ML prediction service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(testbed_app, name="testbed")
console = Console(highlight=False)


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
