"""`dii-hpc ui` (a read-only web server over the store) and `dii-hpc top` (a terminal view)."""

from __future__ import annotations

from typing import Annotated

import typer


def _need(extra: str, *modules: str) -> None:
    """The optional packages of an extra, or one line saying how to install them (exit 2)."""
    import importlib.util

    from dii_hpc.errors import BadInput

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise BadInput(f"needs {', '.join(missing)}: pip install 'dii-hpc[{extra}]'")


def ui(
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to bind (default: this machine only).")] = "127.0.0.1",
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="Accept a --host other machines can reach.")] = False,
) -> None:
    """Serve the store read-only to a browser: the report's pages built on demand, live pages
    of running runs, a JSON API. Prints a URL with a secret token; open it through
    `ssh -L PORT:127.0.0.1:PORT login-node`."""
    from dii_hpc.cli.common import store
    from dii_hpc.errors import BadInput
    from dii_hpc.ui.security import check_bind

    if not 0 <= port <= 65535:
        raise BadInput(f"--port {port}: must be between 0 and 65535")
    check_bind(host, allow_remote)  # before anything else: the refusal is the answer
    _need("ui", "starlette", "uvicorn")
    from dii_hpc.ui.app import serve

    serve(store(), host=host, port=port, allow_remote=allow_remote)


def top(
    experiment: Annotated[str | None, typer.Argument(
        help="Experiment (default: the one with the newest run).")] = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between refreshes.")] = 2.0,
) -> None:
    """Watch an experiment's runs in the terminal: status, last metrics, sparklines, the
    selected run's log. Keys: m metric, s sort, r reverse, / filter, q quit."""
    from dii_hpc.cli.common import store as chosen_store
    from dii_hpc.errors import BadInput

    if not interval > 0:
        raise BadInput(f"--interval {interval}: must be more than 0")
    _need("tui", "textual")
    from dii_hpc.ui.top import run_top
    from dii_hpc.ui.topmodel import default_experiment

    store = chosen_store()
    name = experiment or default_experiment(store)
    store.check_experiment_exists(name)
    run_top(store, name, interval)


def register(app: typer.Typer) -> None:
    """Attach `ui` and `top` to the root app."""
    app.command("ui")(ui)
    app.command("top")(top)
