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
from dii_hpc.cli import audit, drift, launch, predict, quickstart, report, runs
from dii_hpc.errors import DiiError

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


for _module in (runs, launch, audit, drift, predict, report, quickstart):
    _module.register(app)


def _fail(message: str, code: int) -> int:
    typer.echo(f"dii-hpc: error: {message}", err=True)
    return code


def _kinds(err: BaseException) -> set[str]:
    # typer vendors its own click (typer._click) in newer releases and uses click's in older
    # ones; matching class names covers both without importing private modules.
    return {cls.__name__ for cls in type(err).__mro__}


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turn known failures into one line and an exit code."""
    debug = os.environ.get("DII_HPC_DEBUG") == "1"
    try:
        result = app(args=argv, prog_name="dii-hpc", standalone_mode=False)
    except DiiError as err:
        if debug:
            raise
        return _fail(str(err).splitlines()[0] if str(err) else type(err).__name__, err.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as err:  # noqa: BLE001 - the CLI promises one line, not a traceback
        kinds = _kinds(err)
        if "Exit" in kinds:
            return int(getattr(err, "exit_code", 0) or 0)
        if "Abort" in kinds:
            return _fail("aborted", 130)
        if debug:
            raise
        if "NoArgsIsHelpError" in kinds:
            typer.echo(err.format_message(), err=True)  # type: ignore[attr-defined]
            return 2
        if "ClickException" in kinds:
            return _fail(err.format_message().replace("\n", " "), 2)  # type: ignore[attr-defined]
        first = str(err).splitlines()[0] if str(err) else ""
        return _fail(f"{type(err).__name__}: {first} (set DII_HPC_DEBUG=1 for the traceback)", 3)
    # without standalone mode, a typer.Exit(code) comes back as the return value
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
