"""The `dii-hpc` command: one typer app, errors mapped to the exit codes of the design brief.

Sub-command modules are imported here (they import only typer at top level), so that
`dii-hpc --help` lists everything and still answers in a fraction of a second.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from dii_hpc._version import __version__
from dii_hpc.cli import (
    audit,
    drift,
    entry,
    interop,
    launch,
    models,
    pipeline,
    predict,
    quickstart,
    report,
    runs,
    sweep,
    ui,
)

app = typer.Typer(
    name="dii-hpc",
    help="Experiment tracking, Slurm sweeps, model audits, drift checks and static reports "
    "on a shared filesystem.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dii-hpc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    store: Annotated[
        str | None,
        typer.Option("--store", envvar="DII_HPC_STORE", help="Store path (default ./dii-store)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    # The store path travels through the environment so that every sub-command, and every
    # process they start, resolves it the same way (arg > $DII_HPC_STORE > ./dii-store).
    if store:
        os.environ["DII_HPC_STORE"] = os.path.abspath(store)


for _module in (runs, launch, sweep, audit, drift, predict, models, pipeline, report,
                quickstart, interop, ui):
    _module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turn known failures into one line and an exit code."""
    return entry.run(lambda: app(args=argv, prog_name="dii-hpc", standalone_mode=False))


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
