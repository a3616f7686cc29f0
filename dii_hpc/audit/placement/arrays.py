"""The audit's submissions (suite shard arrays, reference-model arrays, the chain's merge
job): where they live, their record, waiting for them, what a failed task says.

Like a sweep, each submission has a folder `<store>/jobs/<id>/` (submitit's pickles and
per-task logs under `submitit/`, the audit job it serves in `audit.json`) and the record
`<store>/jobs/<id>.json`, written by `launch.submit.record_jobs` (the one format): its
arrays, and the audit run its jobs end, when one does (the chain's merge job). So `store gc`
removes the folder once that run has ended, `dii-hpc cancel` cancels the jobs with the run,
and nothing the tasks share is kept outside the store (a per-user cache may be node-local).

Waiting for an array and cancelling it are `launch.waiting`'s (drift sketch arrays wait the
same way): a process that stops waiting for any other reason than the array's end cancels it.
Shards already computed stay in the store's checkpoint: a rerun resumes there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import SchedulerError

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.job import AuditJob
    from dii_hpc.launch.backend import Job
    from dii_hpc.store.store import Store

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


def check_ended(tasks: list[list[str]], folder: str) -> None:
    """The chain's merge job, after its array (`afterany`): SchedulerError naming the first
    task that failed, with its exception line (``tasks``: [job id, shard] pairs)."""
    import submitit

    from dii_hpc.launch.waiting import failure

    for job_id, label in tasks:
        job: submitit.SlurmJob[Any] = submitit.SlurmJob(folder=folder, job_id=job_id, tasks=(0,))
        if job.paths.result_pickle.exists():
            from submitit.core import utils

            outcome, _ = utils.pickle_load(job.paths.result_pickle)
            if outcome == "success":
                continue
        raise SchedulerError(f"audit shards array task {job_id} ({label}) failed: "
                             f"{failure(job)}")
