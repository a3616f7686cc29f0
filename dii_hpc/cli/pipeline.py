"""`dii-hpc pipeline submit | status | cancel | resume | list | kinds` (the pipeline package's
commands).

`submit` prints the pipeline id on its last line, so scripts can take it with `tail -1`.
Exit codes: 0 ok, 1 a stage failed (local executor: after the run), 2 bad input, 3 Slurm.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dii_hpc.cli import common

pipeline_app = typer.Typer(help="The model lifecycle as dependent Slurm jobs (train, select, "
                           "audit, gate, promote, report...).", no_args_is_help=True,
                           rich_markup_mode=None)
IdArg = Annotated[str, typer.Argument(help="Pipeline id (a unique prefix is enough).")]


def _rows(stages: dict[str, dict[str, Any]]) -> str:
    from dii_hpc.cli.tables import table

    rows = []
    for name, s in stages.items():
        how = f"reused ({s['reused_from']})" if s.get("reused") else (s.get("dependency") or "")
        rows.append([name, s.get("kind") or "", s.get("state") or "PENDING",
                     ",".join(s.get("jobs") or []) or "-", how, s.get("error") or ""])
    return table(rows, ["stage", "kind", "state", "jobs", "after", "error"], rule=True)


@pipeline_app.command("submit")
def submit_cmd(
    file: Annotated[str, typer.Argument(help="Pipeline YAML (pipeline:, stages:).")],
    executor: Annotated[str, typer.Option(
        "--executor", help="auto (Slurm when it answers), local (stage after stage here) or "
        "slurm.")] = "auto",
) -> None:
    """Queue every stage at once as dependent jobs (or run them here); print the id last."""
    from dii_hpc import vocabulary as vocab
    from dii_hpc.pipeline import submit

    res = submit.submit(file, common.store(write=True), executor)
    stages = {n: r.model_dump() for n, r in res.stages.items()}
    typer.echo(_rows(stages))
    reused = sum(r["reused"] for r in stages.values())
    if res.executor == "slurm":
        done = f"{len(stages) - reused} stage(s) queued on Slurm"
    else:
        counts: dict[str, int] = {}
        for r in stages.values():
            if not r["reused"]:
                counts[r["state"] or "PENDING"] = counts.get(r["state"] or "PENDING", 0) + 1
        done = "on the local executor: " + (", ".join(f"{n} {s}" for s, n in counts.items())
                                            or "nothing ran")
    typer.echo(f"pipeline {res.name}: {done}, {reused} reused; "
               f"next: dii-hpc pipeline status {res.id}")
    typer.echo(res.id)
    if any(r["state"] in vocab.UNSUCCESSFUL for r in stages.values()):
        raise typer.Exit(1)


@pipeline_app.command("status")
def status_cmd(
    pipeline_id: IdArg,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Stages, their jobs and states (one sacct call), reuse, and why a stage stopped."""
    from dii_hpc.cli.tables import check_format
    from dii_hpc.pipeline import status

    check_format(fmt, ("table", "json"))
    view = status.status(common.store(), pipeline_id)
    if fmt == "json":
        typer.echo(common.to_json(view))
        return
    typer.echo(f"pipeline {view['name']} {view['id']} ({view['executor']}): {view['state']}")
    typer.echo(_rows(view["stages"]))


@pipeline_app.command("cancel")
def cancel_cmd(pipeline_id: IdArg) -> None:
    """scancel every stage that has not ended."""
    from dii_hpc.pipeline import status

    stages = status.cancel(common.store(), pipeline_id)
    typer.echo(f"cancelled {len(stages)} stage(s): {', '.join(stages) or 'none was running'}")


@pipeline_app.command("resume")
def resume_cmd(pipeline_id: IdArg) -> None:
    """Queue again only the stages that did not finish (with what they need that did not)."""
    from dii_hpc.pipeline import status, submit

    store = common.store()
    view = status.status(store, pipeline_id)
    res = submit.resume(store, view["id"], {n: s["state"] for n, s in view["stages"].items()})
    if not res.stages:
        typer.echo(f"pipeline {view['id']}: every stage finished; nothing to resume")
        return
    typer.echo(_rows({n: r.model_dump() for n, r in res.stages.items()}))
    typer.echo(f"resumed {len(res.stages)} stage(s): {', '.join(res.stages)}")
    typer.echo(res.id)


@pipeline_app.command("list")
def list_cmd() -> None:
    """Pipelines of the store, newest last."""
    from dii_hpc.cli.tables import table, when
    from dii_hpc.records import pipeline as records

    store = common.store()
    rows = []
    for pid in records.ids(store.root):
        rec = records.read_pipeline(store.root, pid)
        rows.append([pid, rec.name, rec.executor, len(rec.order), when(rec.created)])
    typer.echo(table(rows, ["id", "pipeline", "executor", "stages", "created"], rule=True)
               if rows else "(no pipelines)")


@pipeline_app.command("kinds")
def kinds_cmd() -> None:
    """The stage kinds installed (built-in and plug-ins): what each does, where it comes from."""
    from dii_hpc.cli.tables import table
    from dii_hpc.pipeline.kind import STAGE_KINDS

    rows = [(name, e.origin, e.record.doc) for name, e in sorted(STAGE_KINDS.entries().items())]
    typer.echo(table(rows, ("kind", "origin", "what")))


def register(app: typer.Typer) -> None:
    """Attach `pipeline` to the root app."""
    app.add_typer(pipeline_app, name="pipeline")
