"""`dii-hpc submit`: expand, record PENDING runs, submit ONE job array per sweep (launch.backend).

Order matters for "nothing half-submitted": records and the plan are written first (a task that
starts must find them), then the arrays go to Slurm; if any submission fails, arrays already
accepted are cancelled and every record of this submission is removed before the error
surfaces.  Scheduler calls: one `scontrol show config` (MaxArraySize, and whether Slurm
answers), one `sinfo` when the tasks ask for several nodes or GPUs, and one sbatch per array.
Each element of an array is one task: a job of resources.nodes x tasks_per_node ranks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc import progress
from dii_hpc.config import LoadedConfig
from dii_hpc.config.schema import ExperimentConfig
from dii_hpc.errors import BadInput, InfraError, SchedulerError, StoreError
from dii_hpc.launch import backend
from dii_hpc.launch import plan as planning
from dii_hpc.launch.optimize import workers as adaptive
from dii_hpc.launch.task import TaskRef, TaskRunner
from dii_hpc.store.bulk import compact

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

EXECUTORS = backend.KINDS
choose_executor = backend.choose  # the name the CLI and the other job kinds know


@dataclass
class SubmitResult:
    submission_id: str
    experiment: str
    executor: str
    rows: list[dict[str, Any]]
    script: str
    run_ids: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    arrays: list[str] = field(default_factory=list)
    plan_file: Path | None = None
    dry_run: bool = False
    study: dict[str, Any] | None = None  # a dry run of an adaptive sweep: `adaptive.preview`


def sweep_job(kind: str, config: ExperimentConfig, store_root: Path, folder: Path,
              conf: dict[str, str] | None = None, dependency: str | None = None) -> backend.Job:
    """The backend Job of a sweep's arrays: the config's resources and setup lines."""
    return backend.job(kind, folder, config.resources, store_root,
                       backend.job_name("sweep", config.experiment), config.setup, conf=conf,
                       dependency=dependency)


def runner_for(rows: list[dict[str, Any]], kind: str) -> TaskRunner:
    """The callable of a plan's tasks: a study's workers (`launch.optimize.trials`) or sweep tasks."""
    if rows and "worker" in rows[0]:
        from dii_hpc.launch.optimize.trials import WorkerRunner

        return WorkerRunner(catch=(kind == "debug"))
    return TaskRunner(catch=(kind == "debug"))


def _submit_arrays(ex: Any, kind: str, plan_file: Path, rows: list[dict[str, Any]],
                   max_array: int, submitted: list[Any]) -> list[str]:
    """One map_array per chunk; returns each task's job id ('123_4', or a local id)."""
    runner = runner_for(rows, kind)
    job_ids: list[str] = []
    for chunk in planning.chunks(len(rows), max_array):
        refs = [TaskRef(str(plan_file), i) for i in chunk]
        if kind == "local" and submitted:
            _wait_all(submitted)  # local "arrays" run one chunk of processes at a time
        jobs = backend.submit_array(ex, runner, refs)
        submitted.extend(jobs)
        job_ids += [str(j.job_id) for j in jobs]
    return job_ids


def _rollback(store: Store, run_ids: list[str], jobs: list[Any], jobdir: Path) -> None:
    """Undo a failed submission: cancel accepted arrays, drop PENDING records and the plan."""
    arrays = sorted({str(j.job_id).split("_")[0] for j in jobs})
    if arrays:
        with contextlib.suppress(SchedulerError, OSError):  # the first failure is what to report
            from dii_hpc.slurm import commands

            commands.cancel(arrays)
    for rid in run_ids:
        with contextlib.suppress(StoreError):  # already gone
            store.delete_run(rid)
    shutil.rmtree(jobdir, ignore_errors=True)


def _write_git(jobdir: Path, cwd: Path) -> dict[str, Any]:
    from dii_hpc.launch.manifest import git_info
    from dii_hpc.store.atomic import write_bytes

    git = git_info(cwd)
    diff = git.get("diff")
    if diff:
        write_bytes(jobdir / "git.diff", diff.encode())
    return git


def submit(loaded: LoadedConfig, store: Store, executor: str = "auto", *, dry_run: bool = False,
           parent_run: str | None = None, dependency: str | None = None,
           slurm_conf: dict[str, str] | None = None) -> SubmitResult:
    """Plan, record and submit; see the module docstring for the guarantees.

    ``dependency`` (Slurm --dependency) holds the arrays until other jobs end (pipelines);
    ``slurm_conf``: a `scontrol show config` the caller already has (executor "slurm")."""
    from dii_hpc.slurm.scontrol import max_array_size
    from dii_hpc.store.atomic import write_bytes
    from dii_hpc.store.ids import new_run_id

    config = loaded.config
    ex_design = planning.make_executor(loaded)
    rows = planning.task_table(loaded, ex_design)
    study = adaptive.preview(store, config) if dry_run and config.sweep.optimize else None
    if study is not None:
        rows = rows[:study["workers"]]
    if slurm_conf is not None and executor == "slurm":
        kind = "slurm"
    else:
        kind, slurm_conf = choose_executor(executor)
    max_array = max_array_size(slurm_conf) if slurm_conf is not None else len(rows)
    if kind == "local":  # a study's workers all start: `parallel` is their concurrency
        max_array = config.resources.array_parallelism or (
            len(rows) if config.sweep.optimize else os.cpu_count() or 1)
    sid = new_run_id()
    jobdir = store.jobs_dir / sid
    job = sweep_job(kind, config, store.root, jobdir / "submitit", slurm_conf, dependency)
    res = SubmitResult(sid, config.experiment, kind, rows,
                       backend.sbatch_text(job, min(len(rows), max_array)),
                       dry_run=dry_run, study=study)
    if dry_run:
        return res
    store.ensure_writable()
    submitted: list[Any] = []
    undo_study = None
    try:
        if config.sweep.optimize is not None:  # workers; their trials make the runs
            n_workers, undo_study = adaptive.prepare(store, config, sid)
            rows = res.rows = rows[:n_workers]
        else:
            _create_runs(store, res, config, rows, parent_run)
        res.plan_file = jobdir / "plan.json"
        source = Path(loaded.source).resolve().parent if Path(loaded.source).exists() else Path.cwd()
        git = _write_git(jobdir, source)
        write_bytes(res.plan_file, compact({
            "submission_id": sid, "experiment": config.experiment, "executor": kind,
            "store": str(store.root), "source": loaded.source, "config": loaded.raw,
            "config_dir": loaded.folder,
            "git": {k: v for k, v in git.items() if k != "diff"},
            "git_diff_file": str(jobdir / "git.diff") if git.get("diff") else None,
            "tasks": rows, "created": time.time()}))
        ex = backend.executor(job)
        res.job_ids = _submit_arrays(ex, kind, res.plan_file, rows, max_array, submitted)
    except BaseException:
        _rollback(store, res.run_ids, submitted, jobdir)
        if undo_study is not None:
            undo_study()
        raise
    res.arrays = sorted({j.split("_")[0] for j in res.job_ids}, key=lambda x: (len(x), x))
    record_jobs(store, res)
    _CURRENT_JOBS[sid] = submitted
    return res


def _create_runs(store: Store, res: SubmitResult, config: ExperimentConfig,
                 rows: list[dict[str, Any]], parent_run: str | None) -> None:
    """The PENDING records of a sweep's tasks (written before any task can start)."""
    res.run_ids = store.create_runs(
        config.experiment, [row["run_params"] for row in rows], kind=config.kind,
        tags={**config.tags, "submission": res.submission_id})
    for row, rid in zip(rows, res.run_ids, strict=True):
        row["run_id"] = rid
    if parent_run:
        for rid in res.run_ids:
            store.update_run(rid, parent_run=parent_run)


_CURRENT_JOBS: dict[str, list[Any]] = {}


def record_jobs(store: Store, res: SubmitResult, name: str | None = None) -> None:
    """jobs/<submission>.json: executor, arrays, and run id -> job id (what status reads);
    an adaptive sweep's workers (no run of their own) as worker index -> job id."""
    workers = {str(row["index"]): jid for row, jid in zip(res.rows, res.job_ids, strict=True)
               if "worker" in row}
    from dii_hpc.records import jobs

    jobs.write(store, name or res.submission_id, jobs.JobRecord(
        submission_id=res.submission_id, experiment=res.experiment, executor=res.executor,
        plan_file=str(res.plan_file), arrays=res.arrays,
        runs=dict(zip(res.run_ids, res.job_ids, strict=True)) if not workers else {},
        tasks={rid: row["index"] for rid, row in zip(res.run_ids, res.rows, strict=True)
               if row.get("index") is not None}  # an audit's run is no task of a plan
        if not workers else {},
        workers=workers, submitted=time.time(), host=os.uname().nodename))


def config_of_run(store: Store, run_id: str, overrides: list[str] | None) -> tuple[LoadedConfig, str]:
    """(the resolved config a run was started from, with ``overrides``; its full run id)."""
    from dii_hpc.config import from_dict

    record = store.run(run_id)
    raw = (record.get("manifest") or {}).get("config")
    if not raw:
        raise BadInput(f"run {record['run_id']} has no resolved config in its manifest")
    return from_dict(raw, overrides, source=f"run {record['run_id']}",
                     folder=(record.get("manifest") or {}).get("config_dir")), record["run_id"]


def run_debug_jobs(sid: str) -> None:
    """DebugExecutor jobs run in this process when their result is asked for."""
    jobs = _CURRENT_JOBS.pop(sid, [])
    with progress.bar("tasks", len(jobs)) as bar:
        for job in jobs:
            with contextlib.suppress(Exception):  # the user's own error: its run says FAILED; run the rest
                job.result()
            bar.advance()


def _wait_all(jobs: list[Any], bar: progress.Bar | None = None) -> None:
    for job in jobs:
        try:
            job.wait()
        except Exception as err:  # noqa: BLE001
            raise InfraError(f"local task {job.job_id} failed to run: {err}") from err
        if bar is not None:
            bar.advance()


def wait_local(sid: str) -> None:
    """Block until the local executor's processes of a submission have exited."""
    jobs = _CURRENT_JOBS.pop(sid, [])
    with progress.bar("tasks", len(jobs)) as bar:
        _wait_all(jobs, bar)


def finish_here(executor: str, sid: str) -> None:
    """What ends in this process: debug jobs run now, local processes are waited for
    (Slurm jobs go on without us)."""
    if executor == "debug":
        run_debug_jobs(sid)
    elif executor == "local":
        wait_local(sid)
