"""`dii-hpc sweep show EXP`: an adaptive sweep's study; and what `submit` says for one."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dii_hpc.cli import common

sweep_app = typer.Typer(help="Adaptive sweeps (sweep.optimize): the study of an experiment.",
                        no_args_is_help=True)
TRIALS_SHOWN = 200


@sweep_app.command("show")
def show(
    experiment: Annotated[str, typer.Argument(help="Experiment submitted with sweep.optimize.")],
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    sort: Annotated[str, typer.Option("--sort", help="Trials by: number or value (best first).")] = "number",
) -> None:
    """Trials, best params, the optimisation history and Optuna's param importances."""
    from dii_hpc.cli.tables import check_format
    from dii_hpc.errors import BadInput
    from dii_hpc.launch.optimize import view as studyview

    check_format(fmt, ("table", "json"))
    if sort not in ("number", "value"):
        raise BadInput(f"--sort {sort}: expected number or value")
    out = studyview.summary(common.store(), experiment)
    if fmt == "json":
        typer.echo(common.to_json(out))
    else:
        typer.echo(render(out, sort))
    if out["error"]:
        raise BadInput(out["error"])


def render(out: dict[str, Any], sort: str = "number") -> str:
    """The study as text: a header, the best trial, the trials table, the importances.
    Objectives get the digits that tell every two trials apart (4 at least)."""
    from dii_hpc.cli.tables import cell, digits_apart, table

    c = out["counts"]
    n = digits_apart([r["value"] for r in out["trials"] if r["value"] is not None])
    lines = [f"study of {out['experiment']}: {out['direction']} {out['metric']}, sampler "
             f"{out['sampler']}, pruner {out['pruner']}; {c['done']} of {out['n_trials']} "
             f"trials done ({c['complete']} complete, {c['pruned']} pruned, {c['failed']} "
             f"failed), {c['running']} running, {c['lost']} lost and asked again"]
    best = out["best"]
    if best:
        params = ", ".join(f"{k}={cell(v)}" for k, v in best["params"].items())
        lines.append(f"best: trial {best['number']} (run {best['run_id']}) {out['metric']} = "
                     f"{cell(best['value'], digits=n)}: {params}")
    rows = list(out["trials"])
    if sort == "value":
        sign = -1 if out["direction"] == "maximize" else 1
        rows.sort(key=lambda r: (r["value"] is None, sign * (r["value"] or 0.0)))
    keys = list(out["space"])
    body = [[r["number"], r["state"], cell(r["value"], digits=n),
             cell(r["best_so_far"], digits=n),
             *[cell(r["params"].get(k)) for k in keys], r["run_status"] or "-",
             r["run_id"] or "-", _note(r)] for r in rows[:TRIALS_SHOWN]]
    lines.append(table(body, ["trial", "state", out["metric"], "best so far", *keys, "run",
                              "run id", "note"], rule=True, align="rlrr" + "r" * len(keys)))
    if len(rows) > TRIALS_SHOWN:
        lines.append(f"... {len(rows) - TRIALS_SHOWN} more (--format json has them all)")
    imp = out["importances"]
    if imp:
        lines.append("param importances (Optuna, fANOVA): "
                     + ", ".join(f"{k} {v:.2f}" for k, v in imp.items()))
    return "\n".join(lines)


def _note(row: dict[str, Any]) -> str:
    if row["lost"]:
        return f"lost: {row['lost']}"
    if row["retry_of"] is not None:
        return f"retry of trial {row['retry_of']}"
    if row["pruned_at"] is not None:
        return f"pruned at step {row['pruned_at']}"
    return row["error"] or ""


def dry_run(res: Any) -> str:
    """`submit --dry-run` of an adaptive sweep: the job script, then the study and what each
    worker will do (there are no tasks with params: the study gives them one by one)."""
    from dii_hpc.cli.tables import cell, table
    from dii_hpc.launch.optimize.samplers import describe_sampler

    study, c = res.study, res.study["counts"]
    spec, n = study["spec"], study["workers"]
    so_far = ("a new study" if study["new"] else f"the study has {c.done} of them done, "
              f"{c.running} running")
    lines = [f"# executor: {res.executor}; {n} worker(s) for the study of {res.experiment}; "
             "nothing submitted", "", res.script.rstrip(), "",
             f"study of {res.experiment}: {spec['direction']} {spec['metric']} (each trial's "
             f"last value) over {spec['n_trials']} trials; {so_far}; {study['remaining']} to "
             f"run, {n} at a time",
             f"sampler {describe_sampler(spec)}, seed {spec['seed']}; pruner {spec['pruner']}",
             "space:"]
    space = [[key, kind, " .. ".join(cell(v) for v in value) if kind != "choice"
              else ", ".join(cell(v) for v in value)]
             for key, entry in spec["space"].items() for kind, value in entry.items()]
    lines += ["  " + ln for ln in table(space).splitlines()]
    row = res.rows[0]
    unit = row["unit"]
    trains = f"model {', '.join(unit['models'])}" + (
        f" on dataset {', '.join(unit['datasets'])}" if unit["datasets"] else "")
    fixed = ", ".join(f"{k}={cell(v)}" for k, v in row["run_params"].items()
                      if k not in spec["space"] and k not in ("model", "dataset"))
    lines += [f"each worker, until no trial is left: asks the study for a trial, trains {trains} "
              f"as a sweep task with the trial's values (one run per trial; the other params: "
              f"{fixed or 'none'}), then tells the study its {spec['metric']}",
              table([[k, seed] for k, seed in enumerate(study["seeds"])],
                    ["worker", "sampler seed"])]
    return "\n".join(lines)


def after_submit(store: Any, res: Any, wait: bool) -> None:
    """`dii-hpc submit` of an adaptive sweep: its workers, then (local, or --wait) the study."""
    from dii_hpc.cli.tables import status_summary, submitted_to
    from dii_hpc.launch import submit as sub
    from dii_hpc.launch.optimize import workers
    from dii_hpc.launch.optimize.study import read_spec

    spec = read_spec(store, res.experiment) or {}
    typer.echo(f"submitted {len(res.job_ids)} worker(s) for the study of {res.experiment} "
               f"({spec.get('n_trials')} trials) to {submitted_to(res)} (submission {res.submission_id})")
    if res.executor == "slurm" and not wait:
        typer.echo(f"next: dii-hpc sweep show {res.experiment}   |   dii-hpc status "
                   f"{res.experiment}   |   dii-hpc cancel {res.experiment}")
        return
    sub.finish_here(res.executor, res.submission_id)  # local workers run here
    rows = workers.finish(store, res)
    if rows:
        typer.echo(status_summary(rows))
    done = workers.outcome(store, res.experiment)
    typer.echo(f"{done['done']} trial(s) done; dii-hpc sweep show {res.experiment}")


def register(app: typer.Typer) -> None:
    app.add_typer(sweep_app, name="sweep")
