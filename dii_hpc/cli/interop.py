"""`dii-hpc import mlflow|tensorboard` and the `--to mlflow` side of `dii-hpc export`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dii_hpc.cli import common

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

import_app = typer.Typer(help="Bring runs in from MLflow or TensorBoard (idempotent).",
                         no_args_is_help=True)


@import_app.command("mlflow")
def import_mlflow_cmd(
    source: Annotated[str, typer.Argument(help="An mlruns folder, SQLite file or tracking URI.")],
    experiment: Annotated[str | None, typer.Option("-e", "--experiment",
                                                   help="Put every run here (default: "
                                                        "MLflow's experiment names).")] = None,
    artifacts: Annotated[bool, typer.Option("--artifacts/--no-artifacts",
                                            help="Copy artifact files too.")] = True,
) -> None:
    """Import MLflow runs: params, tags, metric histories (steps, times), artifacts."""
    from dii_hpc.interop.mlflow_import import import_mlflow

    typer.echo(import_mlflow(common.store(write=True), source, experiment, artifacts).summary(source))


@import_app.command("tensorboard")
def import_tensorboard_cmd(
    logdir: Annotated[str, typer.Argument(help="A TensorBoard log folder (runs below it).")],
    experiment: Annotated[str | None, typer.Option("-e", "--experiment",
                                                   help="Experiment (default: the folder's "
                                                        "name).")] = None,
) -> None:
    """Import TensorBoard runs: every scalar with its step and wall time, and hparams."""
    from dii_hpc.interop.tensorboard_import import import_tensorboard

    typer.echo(import_tensorboard(common.store(write=True), logdir, experiment).summary(logdir))


def export_to_mlflow(store: Store, experiment: str, uri: str) -> None:
    """``store``: the --store, already required to exist (a read command)."""
    from dii_hpc.interop.mlflow_export import export_mlflow

    typer.echo(export_mlflow(store, experiment, uri).summary(experiment, uri))


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
