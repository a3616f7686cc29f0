"""Errors to exit codes: the one place a DiiError (or click's own) becomes a line and a code.

0 ok, 1 a check failed, 2 bad input, 3 infrastructure; 130 on Ctrl-C.  Tracebacks only with
DII_HPC_DEBUG=1 (then the exception propagates with its chained cause).  Both the console
script and commands that run other commands (the quickstart) go through `run`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import typer

from dii_hpc.errors import DiiError, one_line


def _fail(message: str, code: int) -> int:
    typer.echo(f"dii-hpc: error: {message}", err=True)
    return code


def _kinds(err: BaseException) -> set[str]:
    # typer vendors its own click (typer._click) in newer releases and uses click's in older
    # ones; matching class names covers both without importing private modules.
    return {cls.__name__ for cls in type(err).__mro__}


def run(invoke: Callable[[], Any]) -> int:
    """Call ``invoke`` (the app on some arguments); known failures become one line + a code."""
    debug = os.environ.get("DII_HPC_DEBUG") == "1"
    try:
        result = invoke()
    except DiiError as err:
        if debug:
            raise
        return _fail(one_line(err), err.exit_code)
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
        return _fail(f"{type(err).__name__}: {one_line(str(err))} (set DII_HPC_DEBUG=1 for the "
                     "traceback)", 3)
    # without standalone mode, a typer.Exit(code) comes back as the return value
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
