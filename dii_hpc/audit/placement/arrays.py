"""The audit's submissions (suite shard arrays, reference-model arrays, the chain's merge
job): where they live, their record, waiting for them, what a failed task says.

Like a sweep, each submission has a folder `<store>/jobs/<id>/` (submitit's pickles and
per-task logs under `submitit/`, the audit job it serves in `audit.json`) and the record
`<store>/jobs/<id>.json`, written by `launch.submit.record_jobs` (the one format): its
arrays, and the audit run its jobs end, when one does (the chain's merge job). So `store gc`
removes the folder once that run has ended, `dii-hpc cancel` cancels the jobs with the run,
and nothing the tasks share is kept outside the store (a per-user cache may be node-local).

A process that waits for an array (`wait`) cancels it when it stops waiting for any other
reason than the array's end: a failed task (reported by its exception's line, read from the
result submitit pickled), Ctrl-C, SIGTERM, or `dii-hpc cancel` of the audit run it holds
open. Shards already computed stay in the store's checkpoint: a rerun resumes there.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc import progress
from dii_hpc.errors import InfraError, SchedulerError

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.job import AuditJob
    from dii_hpc.launch.backend import Job
    from dii_hpc.store.store import Store

POLL_S = (0.5, 5.0)  # first and longest pause between two looks at the tasks
POLL_SHARE = 0.1  # a pause at most this share of the wait so far: a short array ends on time
LOCAL_POLL_S = 0.25  # local processes: a look is a file test, and a short array's end matters


@dataclass(frozen=True)
class Submission:
    """One audit submission's place in the store (`<store>/jobs/<id>/`)."""

    store: Store
    id: str
    experiment: str
    what: str  # audit shards | reference models | audit merge

    @property
    def folder(self) -> Path:
        return self.store.jobs_dir / self.id / "submitit"


def begin(job: AuditJob, what: str) -> Submission:
    """A new submission for the audit ``job``; its spec is written before any task runs."""
    from dii_hpc.store.atomic import write_json
    from dii_hpc.store.ids import new_run_id
    from dii_hpc.store.store import Store

    store = Store()
    store.ensure_writable()
    sub = Submission(store, new_run_id(), job.experiment, what)
    write_json(sub.folder.parent / "audit.json", {"what": what, "job": job.to_json()})
    return sub


def backend_job(sub: Submission, res: Any, name: str, setup: list[str], kind: str = "slurm",
                conf: dict[str, str] | None = None, dependency: str | None = None) -> Job:
    """The launch.backend Job of one of the submission's arrays (or its merge job)."""
    from dii_hpc.launch import backend

    return backend.job(kind, sub.folder, res, sub.store.root, name, setup, conf=conf,
                       dependency=dependency)


def record(sub: Submission, kind: str, jobs: list[Any], run_id: str | None = None,
           run_job: Any = None) -> None:
    """`<store>/jobs/<id>.json` through launch's writer: the arrays, and ``run_id`` -> the
    job that ends it (``run_job``), which `status` reconciles the run with."""
    from dii_hpc.launch.submit import SubmitResult, record_jobs

    ids = [str(j.job_id) for j in jobs]
    mapped = run_id is not None and run_job is not None
    # the run's row has no task index: it is no sweep task that `resubmit` could restart
    res = SubmitResult(sub.id, sub.experiment, kind, [{"index": None}] if mapped else [], "",
                       run_ids=[str(run_id)] if mapped else [],
                       job_ids=[str(run_job.job_id)] if mapped else [],
                       plan_file=sub.folder.parent / "audit.json")
    res.arrays = sorted({i.split("_")[0] for i in ids}, key=lambda x: (len(x), x))
    record_jobs(sub.store, res)


def failure(job: Any) -> str:
    """A failed task in one line: its exception's (from the result submitit pickled, the
    traceback of the task's own error), else the state it ended in without a result."""
    from submitit.core import utils

    path = job.paths.result_pickle
    if path.exists():
        try:
            outcome, trace = utils.pickle_load(path)
        except Exception:  # noqa: BLE001 - a torn pickle says no more than a missing one
            outcome, trace = "error", ""
        if outcome == "error" and str(trace).strip():
            return exception_line(str(trace))
    try:
        state = job.state
    except Exception:  # noqa: BLE001 - the scheduler's view is a nicety here
        state = "UNKNOWN"
    return f"ended {state} without a result"


def exception_line(trace: str) -> str:
    """``ValueError: boom`` from a formatted traceback (the last exception of a chain), its
    class without the module path."""
    block = trace.split("Traceback (most recent call last):")[-1]
    lines = [ln for ln in block.splitlines() if ln.strip() and not ln[0].isspace()]
    line = lines[0] if lines else trace.strip().splitlines()[-1]
    head, sep, rest = line.partition(":")
    if sep and " " not in head:
        return f"{head.rsplit('.', 1)[-1]}:{rest}"
    return line


def cancel(jobs: list[Any]) -> None:
    """Cancel the tasks still pending or running: one scancel for the Slurm arrays, the
    local executor's processes one by one."""
    import submitit

    live = [j for j in jobs if not _done(j)]
    on_slurm = [j for j in live if isinstance(j, submitit.SlurmJob)]
    if on_slurm:
        from dii_hpc.slurm import commands

        with contextlib.suppress(SchedulerError):  # ended meanwhile
            commands.cancel(sorted({str(j.job_id).split("_")[0] for j in on_slurm}))
    for j in live:
        if not isinstance(j, submitit.SlurmJob):
            with contextlib.suppress(Exception):  # a process that ended meanwhile
                j.cancel(check=False)


def _done(job: Any) -> bool:
    try:
        return bool(job.done())
    except Exception:  # noqa: BLE001 - a job the scheduler forgot has ended
        return True


def wait(jobs: list[Any], labels: list[str], what: str, run: Any = None) -> list[Any]:
    """Every task's result, in order. The first failed task cancels the others and raises
    SchedulerError naming it, its shard and its exception; ``run`` (the audit run this
    process holds open) cancelled by `dii-hpc cancel`, or any interruption here, cancels
    every task."""
    import submitit

    results: dict[int, Any] = {}
    slurm = any(isinstance(j, submitit.SlurmJob) for j in jobs)
    first, longest = POLL_S if slurm else (LOCAL_POLL_S, LOCAL_POLL_S)
    pause, t0 = first, time.monotonic()
    try:
        with progress.bar(f"{what}: array tasks", len(jobs)) as bar:
            while len(results) < len(jobs):
                if run is not None and run.cancel_requested():
                    raise InfraError(f"audit run {run.id} cancelled (dii-hpc cancel); its "
                                     f"{what} array was cancelled")
                for i, j in enumerate(jobs):
                    if i in results or not _done(j):
                        continue
                    if j.exception() is not None:
                        raise SchedulerError(f"{what} array task {j.job_id} ({labels[i]}) "
                                             f"failed: {failure(j)}")
                    results[i] = j.result()
                    bar.advance()
                    pause = first
                if len(results) < len(jobs):
                    time.sleep(pause)
                    # a look is a file test per task (submitit rate-limits sacct itself)
                    pause = min(pause * 1.5, longest,
                                max(first, POLL_SHARE * (time.monotonic() - t0)))
    except BaseException:
        cancel(jobs)
        raise
    return [results[i] for i in range(len(jobs))]


def check_ended(tasks: list[list[str]], folder: str) -> None:
    """The chain's merge job, after its array (`afterany`): SchedulerError naming the first
    task that failed, with its exception line (``tasks``: [job id, shard] pairs)."""
    import submitit

    for job_id, label in tasks:
        job: submitit.SlurmJob[Any] = submitit.SlurmJob(folder=folder, job_id=job_id, tasks=(0,))
        if job.paths.result_pickle.exists():
            from submitit.core import utils

            outcome, _ = utils.pickle_load(job.paths.result_pickle)
            if outcome == "success":
                continue
        raise SchedulerError(f"audit shards array task {job_id} ({label}) failed: "
                             f"{failure(job)}")
