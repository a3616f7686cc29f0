"""`dii-hpc runs list|show|compare|tag|note|archive`, `dii-hpc export`, `dii-hpc store ...`."""

from __future__ import annotations

from typing import Annotated

import typer

from dii_hpc.cli import common

runs_app = typer.Typer(help="List, show and compare runs.", no_args_is_help=True)
store_app = typer.Typer(help="Maintain the store: compact, merge, gc, check.", no_args_is_help=True)

def warn_damaged(damaged: list[tuple[str, str]]) -> None:
    """One warning line per run that could not be read (the listing goes on without it)."""
    for rid, why in damaged:
        typer.echo(f"dii-hpc: warning: skipped damaged run {rid}: {why}", err=True)


@runs_app.command("list")
def list_runs(
    experiment: Annotated[str | None, typer.Option("-e", "--experiment", help="Only this experiment.")] = None,
    filter_: Annotated[str | None, typer.Option("--filter", help='e.g. "params.lr > 0.001 and metrics.acc >= 0.9"')] = None,
    sort: Annotated[str | None, typer.Option("--sort", help="Column to sort by, e.g. metrics.acc.")] = None,
    ascending: Annotated[bool, typer.Option("--asc/--desc", help="Sort order (default descending).")] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="train, audit, drift or inference.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    limit: Annotated[int | None, typer.Option("--limit", help="Show at most N runs.")] = None,
) -> None:
    """List runs with params and last metric values."""
    from dii_hpc.cli.tables import check_format, render_runs
    from dii_hpc.errors import BadInput
    from dii_hpc.store.query import apply_filter, sort_runs
    from dii_hpc.vocabulary import KINDS

    check_format(fmt)
    if limit is not None and limit < 0:
        raise BadInput(f"--limit {limit}: must be 0 or more")
    if kind is not None and kind not in KINDS:
        raise BadInput(f"--kind {kind!r}: expected one of {', '.join(KINDS)}")
    store = common.store()
    df = store.runs(experiment=experiment, kind=kind)
    warn_damaged(store.damaged)
    if filter_:
        df = apply_filter(df, filter_)
    if sort and len(df):
        df = sort_runs(df, sort, ascending)
    if limit is not None:
        df = df.head(limit)
    typer.echo(render_runs(df, fmt))


@runs_app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Everything recorded about one run."""
    from dii_hpc.cli.tables import check_format, render_record

    check_format(fmt)
    store = common.store()
    record = store.run(run_id)
    typer.echo(render_record(record, store.artifacts(record["run_id"]), fmt))


@runs_app.command("compare")
def compare_runs(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    all_params: Annotated[bool, typer.Option("--all", help="Also show params that are equal.")] = False,
) -> None:
    """Params that differ and metrics side by side."""
    from dii_hpc.cli.tables import check_format, compare_frame, render_frame
    from dii_hpc.errors import BadInput

    check_format(fmt)
    if len(run_ids) < 2:
        raise BadInput("runs compare needs at least two run ids")
    store = common.store()
    frame = compare_frame([store.run(r) for r in run_ids], all_params, readable=fmt == "table")
    typer.echo(render_frame(frame, fmt))


@runs_app.command("tag")
def tag_run(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    pairs: Annotated[list[str] | None, typer.Argument(help="KEY=VALUE tags to set.")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="Tag to remove.")] = None,
) -> None:
    """Set (or --remove) tags of a run; the report shows them."""
    from dii_hpc.store.annotations import annotate, parse_tags

    rec = annotate(common.store(), run_id, tags=parse_tags(pairs or []), remove=remove)
    typer.echo(f"{rec['run_id']}: " + (" ".join(f"{k}={v}" for k, v in rec["tags"].items())
                                       or "no tags"))


@runs_app.command("note")
def note_run(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    text: Annotated[str, typer.Argument(help='The note ("" clears it).')],
) -> None:
    """Write a note on a run (shown on its page and in the experiment table)."""
    from dii_hpc.store.annotations import annotate

    rec = annotate(common.store(), run_id, note=text)
    typer.echo(f"{rec['run_id']}: " + ("note saved" if rec.get("note") else "note cleared"))


@runs_app.command("archive")
def archive_run(
    run_ids: Annotated[list[str], typer.Argument(help="Run ids (or unique prefixes).")],
    undo: Annotated[bool, typer.Option("--undo", help="Bring archived runs back.")] = False,
) -> None:
    """Archive runs: the report hides them unless "show archived" is ticked."""
    from dii_hpc.store.annotations import annotate

    store = common.store()
    for rid in run_ids:
        rec = annotate(store, rid, archived=not undo)
        typer.echo(f"{rec['run_id']}: {'restored' if undo else 'archived'}")


@store_app.command("compact")
def compact(
    experiments: Annotated[list[str] | None, typer.Argument(help="Experiments (default: all).")] = None,
) -> None:
    """Fold finished runs into a columnar summary so listings stay fast."""
    from dii_hpc.store.summary import compact as do_compact

    store = common.store()
    for exp in experiments or store.experiments():
        res = do_compact(store, exp)
        warn_damaged(res["damaged"])
        typer.echo(f"{exp}: +{res['added']} runs, {res['total']} in summary ({res['seconds']:.2f} s)")


@store_app.command("init")
def init_cmd(
    group: Annotated[str | None, typer.Option("--group", help="Unix group that shares the store.")] = None,
    umask: Annotated[str | None, typer.Option("--umask", help="Octal umask for writers, e.g. 0027.")] = None,
) -> None:
    """Create or configure the store for sharing (group ownership, umask)."""
    from dii_hpc.store.settings import init_store

    store = common.store(write=True)
    settings = init_store(store.root, group, umask)
    typer.echo(f"store {store.root}: {settings or 'default settings'}")


@store_app.command("merge")
def merge_cmd(
    src: Annotated[str, typer.Argument(help="Store to copy from.")],
    dst: Annotated[str, typer.Argument(help="Store to copy into.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would be copied.")] = False,
) -> None:
    """Merge SRC into DST (e.g. two clusters' stores) without duplicating runs or blobs;
    registered models by content (a version number taken here by another model is renumbered)."""
    from dii_hpc.store.merge import merge
    from dii_hpc.store.store import Store

    res = merge(Store(src), Store(dst), dry_run=dry_run)
    verb = "would copy" if dry_run else "copied"
    folders = "".join(f", {n} files in {name}/" for name, n in res["folders"].items())
    typer.echo(f"{verb} {res['runs_copied']} runs, updated {res['runs_updated']}, "
               f"skipped {res['runs_skipped']} already present, {res['blobs_copied']} blobs{folders}")
    for note in res["notes"]:
        typer.echo(note)


@store_app.command("gc")
def gc_cmd(
    older_than: Annotated[str, typer.Option("--older-than", help="Only what is older, e.g. 7d, 12h.")] = "7d",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be removed.")] = False,
) -> None:
    """Remove unreferenced blobs (neither a run's artifact nor a registered model's weights)
    and job folders of ended submissions."""
    from dii_hpc.store.gc import gc, parse_age

    res = gc(common.store(), parse_age(older_than), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for sha in res["blobs"]:
        typer.echo(f"{verb} blob {sha}")
    for name in res["job_folders"]:
        typer.echo(f"{verb} job folder jobs/{name}")
    for name in res["job_folders_in_use"]:
        typer.echo(f"kept job folder jobs/{name}: its jobs may still be queued or running")
    typer.echo(f"{verb} {len(res['blobs'])} blobs ({res['bytes']} B), {len(res['job_folders'])} job folders")


@store_app.command("check")
def check_cmd(
    permissions: Annotated[bool, typer.Option("--permissions/--no-permissions", help="Also check modes.")] = True,
) -> None:
    """Verify run records, metric arrays, blob hashes and permissions; exit 1 on damage."""
    from dii_hpc.store.check import check

    problems = check(common.store(), permissions=permissions)
    for p in problems:
        typer.echo(str(p))
    errors = sum(p.severity == "error" for p in problems)
    typer.echo(f"{errors} errors, {len(problems) - errors} warnings")
    if errors:
        raise typer.Exit(1)


def export(
    experiment: Annotated[str, typer.Argument(help="Experiment to export.")],
    uri: Annotated[str | None, typer.Argument(help="With --to mlflow: the tracking URI.")] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Output .h5 file.")] = None,
    to: Annotated[str, typer.Option("--to", help="hdf5 (default) or mlflow.")] = "hdf5",
) -> None:
    """Write an experiment to one HDF5 file that h5py and pandas read without dii-hpc, or
    with --to mlflow into an MLflow tracking URI (e.g. sqlite:///mlflow.db).

    h5py reads /runs/<run_id> (attributes, metrics/<key> tables); pandas.read_hdf(FILE,
    "runs_table") reads one row per run."""
    from dii_hpc.cli.paths import output_file
    from dii_hpc.errors import BadInput

    if to not in ("hdf5", "mlflow"):
        raise BadInput(f"unknown --to {to!r}: expected hdf5 or mlflow")
    if to == "mlflow":
        if not uri:
            raise BadInput("export --to mlflow: give the tracking URI, e.g. sqlite:///mlflow.db")
        from dii_hpc.cli.interop import export_to_mlflow

        export_to_mlflow(common.store(), experiment, uri)
        return
    if not out:
        raise BadInput("export: give --out FILE.h5 (or --to mlflow URI)")
    store = common.store()
    from dii_hpc.store.export import export_experiment

    output_file(out, "--out")
    res = export_experiment(store, experiment, out)
    typer.echo(f"wrote {out}: {res['runs']} runs, {res['series']} metric series; "
               f"pandas.read_hdf({out!r}, 'runs_table') lists the runs")


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
    app.add_typer(store_app, name="store")
    app.command("export")(export)
