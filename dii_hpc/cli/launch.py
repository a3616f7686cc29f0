"""`dii-hpc submit | run | status | logs | cancel | resubmit` (launch package's commands)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

import typer

from dii_hpc.cli import common

EXEC_HELP = "auto (Slurm when sbatch answers, else local), local, slurm or debug (in-process)."


def submit(
    config: Annotated[str | None, typer.Argument(help="Experiment config (YAML).")] = None,
    executor: Annotated[str, typer.Option("--executor", help=EXEC_HELP)] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the sbatch script and task table; submit nothing.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Block until every task has ended.")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override: key.path=value (repeatable); +key.path=value adds a new key.")] = None,
    from_run: Annotated[str | None, typer.Option("--from-run", help="Re-create the task of this run exactly.")] = None,
) -> None:
    """Expand a sweep and submit it as one job array (Slurm) or local processes."""
    from dii_hpc.cli.tables import status_summary, submitted_to, task_table
    from dii_hpc.config import load_config
    from dii_hpc.errors import BadInput
    from dii_hpc.launch import status as st
    from dii_hpc.launch import submit as sub

    store = common.store(write=True)
    parent = None
    if from_run:
        loaded, parent = sub.config_of_run(store, from_run, set_)
    elif config is None:
        raise BadInput("give a CONFIG file or --from-run RUN")
    else:
        loaded = load_config(config, set_)
    res = sub.submit(loaded, store, executor, dry_run=dry_run, parent_run=parent)
    if dry_run and res.study is not None:  # an adaptive sweep: its workers, not tasks
        from dii_hpc.cli.sweep import dry_run as study_dry_run

        typer.echo(study_dry_run(res))
        return
    if dry_run:
        typer.echo(f"# executor: {res.executor}; {len(res.rows)} task(s); nothing submitted\n")
        typer.echo(res.script)
        typer.echo(task_table(res.rows))
        return
    if res.rows and "worker" in res.rows[0]:  # an adaptive sweep (sweep.optimize)
        from dii_hpc.cli.sweep import after_submit

        after_submit(store, res, wait)
        return
    with _keep_running_on_ctrl_c(res.executor, res.experiment, len(res.run_ids)):
        typer.echo(f"submitted {len(res.run_ids)} task(s) of {res.experiment} to "
                   f"{submitted_to(res)} (submission {res.submission_id})")
        if res.executor == "slurm" and not wait:
            typer.echo(f"next: dii-hpc status {res.experiment}   |   dii-hpc logs "
                       f"{res.run_ids[0]} --follow   |   dii-hpc cancel {res.experiment}")
            return
        sub.finish_here(res.executor, res.submission_id)
        rows = st.wait_ended(store, res.experiment, res.run_ids, poll=res.executor == "slurm")
    typer.echo(status_summary(rows))
    st.check_outcome(rows)


@contextlib.contextmanager
def _keep_running_on_ctrl_c(executor: str, experiment: str, n: int) -> Iterator[None]:
    """Ctrl-C while waiting on Slurm stops the waiting, not the jobs: say so (exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        if executor != "slurm":
            raise
        typer.echo(f"dii-hpc: interrupted: stopped waiting; the {n} Slurm task(s) of {experiment} "
                   f"keep running (dii-hpc status {experiment}   |   dii-hpc cancel {experiment})",
                   err=True)
        raise typer.Exit(130) from None


def run(
    command: Annotated[list[str], typer.Argument(help="The command, after --.")],
    experiment: Annotated[str, typer.Option("-e", "--experiment", help="Experiment to record the run in.")] = "commands",
    executor: Annotated[str, typer.Option("--executor", help=EXEC_HELP)] = "auto",
    partition: Annotated[str | None, typer.Option("--partition")] = None,
    time_: Annotated[str, typer.Option("--time", help="Slurm time limit, e.g. 00:30:00.")] = "00:30:00",
    cpus_per_task: Annotated[int, typer.Option("--cpus-per-task")] = 1,
    mem: Annotated[str | None, typer.Option("--mem", help="e.g. 2G")] = None,
    gpus: Annotated[int, typer.Option("--gpus", help="GPUs per node.")] = 0,
    nodes: Annotated[int, typer.Option("--nodes", help="Nodes; the command runs on every rank through srun.")] = 1,
    tasks_per_node: Annotated[int, typer.Option("--tasks-per-node", help="Ranks per node.")] = 1,
    gpus_per_task: Annotated[int, typer.Option("--gpus-per-task", help="GPUs per rank.")] = 0,
    gres: Annotated[str | None, typer.Option("--gres", help="Generic resource per node, e.g. gpu:a100:2.")] = None,
    constraint: Annotated[str | None, typer.Option("--constraint", help="Slurm node features, e.g. 'a100&ib'.")] = None,
    exclusive: Annotated[bool, typer.Option("--exclusive", help="Whole nodes, shared with no other job.")] = False,
    all_ranks: Annotated[bool, typer.Option("--all-ranks", help="Every rank logs metrics (keys rank<k>/...), not only rank 0.")] = False,
    setup: Annotated[list[str] | None, typer.Option("--setup", help="Shell line run before (repeatable).")] = None,
    sys_metrics_s: Annotated[float, typer.Option("--sys-metrics-s", help="System metrics every N s (0: off).")] = 10.0,
    wait: Annotated[bool, typer.Option("--wait", help="On Slurm, block until the job ends.")] = False,
) -> None:
    """Run any command as a tracked run: logs, exit code, metrics, manifest."""
    from pydantic import ValidationError

    from dii_hpc.config.explain import explain
    from dii_hpc.config.schema import Resources
    from dii_hpc.errors import BadInput, InfraError
    from dii_hpc.launch import runcmd

    if not command:
        raise BadInput("nothing to run: give the command after --")
    given = {"partition": partition, "time": time_, "cpus_per_task": cpus_per_task, "mem": mem,
             "gpus": gpus, "sys_metrics_s": sys_metrics_s, "nodes": nodes,
             "tasks_per_node": tasks_per_node, "gpus_per_task": gpus_per_task, "gres": gres,
             "constraint": constraint, "exclusive": exclusive}
    try:
        res = Resources.model_validate(given)
    except ValidationError as err:
        options = {k: "--" + k.replace("_", "-") for k in given}
        raise BadInput(explain(err, Resources, options=options)) from err
    store = common.store(write=True)
    run_id, kind, job_id, task = runcmd.submit_command(store, experiment, command, res,
                                                      list(setup or []), executor, all_ranks)
    if kind == "slurm":
        typer.echo(f"run {run_id}: Slurm job {job_id}")
        if not wait:
            typer.echo(f"next: dii-hpc status {experiment}   |   dii-hpc logs {run_id} --follow")
            return
        from dii_hpc.launch import status as st

        with _keep_running_on_ctrl_c(kind, experiment, 1):
            rows = st.wait_ended(store, experiment, [run_id])
        typer.echo(f"run {run_id}: {rows[0]['status']}")
        st.check_outcome(rows)
        return
    code = runcmd.run_command(task)
    status = store.run(run_id)["status"]
    typer.echo(f"run {run_id}: {status} (exit code {code}); logs: dii-hpc logs {run_id}")
    if code != 0:
        raise InfraError(f"command exited with code {code}; run {run_id} {status}")


def status(
    experiment: Annotated[str | None, typer.Argument(help="Only this experiment.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="List every run, not only those that failed.")] = False,
) -> None:
    """Reconcile runs with the scheduler (one sacct call) and show where they stand."""
    from dii_hpc.cli.tables import status_lines, status_summary
    from dii_hpc.launch.status import attention, reconcile

    store = common.store()
    if experiment:
        store.check_experiment_exists(experiment)
    rows = reconcile(store, experiment)
    if not rows:
        typer.echo("(no runs)")
        return
    shown = rows if all_ else attention(rows)
    if shown:
        typer.echo(status_lines(shown[:500]))
    if len(shown) > 500:
        typer.echo(f"... {len(shown) - 500} more")
    typer.echo(status_summary(rows))


def logs(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")] = False,
    stream: Annotated[str, typer.Option("--stream", help="stdout, stderr or both.")] = "both",
) -> None:
    """Print a run's stdout/stderr (every rank's, labelled, for a multi-rank run)."""
    import sys

    from dii_hpc.errors import BadInput
    from dii_hpc.launch.lifecycle import follow as tail
    from dii_hpc.launch.lifecycle import log_files, resolve_logs

    if stream not in ("stdout", "stderr", "both"):
        raise BadInput(f"--stream {stream}: expected stdout, stderr or both")
    store = common.store()
    rid = store.run(run_id)["run_id"]
    names = ("stdout", "stderr") if stream == "both" else (stream,)
    if follow:  # a pending task's log appears in its run's logs/ when it starts
        paths = log_files(store, rid, names, follow=True)
        shown = None
        for name, chunk in tail(paths, store, rid):
            if len(paths) > 1 and name != shown:  # a header where the file changes, as tail -f
                sys.stdout.write(("\n" if shown else "") + f"==> {name} <==\n")
                shown = name
            sys.stdout.write(chunk)
            sys.stdout.flush()
        return
    paths = resolve_logs(store, rid, names)
    for name, path in paths.items():
        text = path.read_text(errors="replace")
        if stream == "both" or len(paths) > 1:
            typer.echo(f"==> {name} <==")
        typer.echo(text, nl=not text.endswith("\n"))


def cancel(
    target: Annotated[str, typer.Argument(help="A run id or an experiment name.")],
) -> None:
    """Cancel the unfinished runs of an experiment, or one run (one scancel call)."""
    from dii_hpc.launch import lifecycle

    out = lifecycle.cancel(common.store(), target)
    typer.echo(f"cancelled {out['runs']} run(s) ({out['slurm_jobs']} Slurm job(s), "
               f"{out['local']} local process(es))")


def resubmit(
    experiment: Annotated[str, typer.Argument(help="Experiment whose failed tasks to re-run.")],
    failed: Annotated[bool, typer.Option("--failed", help="Failed, preempted, timed-out tasks (required).")] = False,
    executor: Annotated[str | None, typer.Option("--executor", help=EXEC_HELP)] = None,
) -> None:
    """Re-run failed/preempted/timed-out tasks under the same run ids."""
    from dii_hpc.errors import BadInput
    from dii_hpc.launch import lifecycle
    from dii_hpc.launch import submit as sub

    if not failed:
        raise BadInput("say which tasks to resubmit: --failed")
    store = common.store()
    out = lifecycle.resubmit(store, experiment, executor)
    if not out["runs"] and not out.get("workers"):
        typer.echo(f"{experiment}: nothing to resubmit")
        return
    for s in out["submissions"]:
        sub.finish_here(s["executor"], s["submission"])
    for _rid, kind, _job, task in out.get("commands", []):
        if kind != "slurm":  # `dii-hpc run` on the local executor runs here, as it did at first
            task()
    if out.get("workers"):
        typer.echo(f"restarted {out['workers']} worker(s) of the study of {experiment}")
    if out["runs"]:
        typer.echo(f"resubmitted {out['runs']} run(s) of {experiment}")


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the root app."""
    app.command("submit")(submit)
    app.command("run", context_settings={"allow_interspersed_args": False})(run)
    app.command("status")(status)
    app.command("logs")(logs)
    app.command("cancel")(cancel)
    app.command("resubmit")(resubmit)
