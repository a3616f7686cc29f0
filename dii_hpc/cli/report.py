"""`dii-hpc report build`: render the store into a static HTML site."""

from __future__ import annotations

from typing import Annotated

import typer


def build(
    out: Annotated[str | None, typer.Option(
        "--out", "-o", metavar="DIR", help="Output folder (default: <store>/site).")] = None,
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", "-e", metavar="NAME", help="Only this experiment (repeatable).")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Re-render every page, ignoring the incremental manifest.")] = False,
) -> None:
    """Build a self-contained static site (opens from file://, no network) and print index.html."""
    import os

    from dii_hpc.cli.common import store as chosen_store
    from dii_hpc.cli.paths import output_dir
    from dii_hpc.cli.runs import warn_damaged
    from dii_hpc.errors import StoreError
    from dii_hpc.report import build_site

    store = chosen_store()  # a typo must not create an empty store holding a site
    site = output_dir(out, "--out") if out else store.root / "site"
    try:
        site.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot write the site to {site} ({err.strerror}); give --out DIR "
                         "(e.g. on a read-only store)") from err
    if not os.access(site, os.W_OK | os.X_OK):
        raise StoreError(f"cannot write the site to {site} (not writable); give --out DIR")
    result = build_site(store, out=site, experiment=experiment or None, force=force)
    typer.echo(f"{result.rendered} page(s) rendered, {result.skipped} unchanged, "
               f"{result.runs} run(s), {result.seconds:.2f} s", err=True)
    warn_damaged(result.damaged)
    typer.echo(str(result.index))


def register(app: typer.Typer) -> None:
    """Attach ``report build`` to the root app."""
    report = typer.Typer(help="Static HTML reports of the store.", no_args_is_help=True)
    report.command("build")(build)
    app.add_typer(report, name="report")
