"""A level I suite on Slurm as a chain: the shard array, then a tiny dependent merge job.

`placement.slurm.run` (what `audit suite --executor slurm` does by default) waits in the
submitting process for the array and merges there; on a login node that process is what
dies with the SSH session. Here nothing waits: `submit` creates the audit run PENDING,
queues the shard array and a merge job that Slurm holds with `--dependency=afterany:<array>`,
and records them (`<store>/jobs/<id>.json`, the run as the merge job's), so `dii-hpc status`
follows the run and `dii-hpc cancel` cancels both jobs. The merge first checks the array's
tasks (a failed one ends the run FAILED with the task's exception line), then runs the
ordinary suite, which finds every shard done, aggregates, checks the thresholds and writes
the result into the run.

Nothing here builds the model (pipelines build the same chain before the model exists: it
comes from an upstream stage). The array has `task_count` tasks, task i computes the i-th key
of `slurm.plan` for the task the job knows (the config's, the model reference's) or, when it
knows none, for every task the model may have; each task, which builds the model, skips a key
its model's task does not have.
"""

from __future__ import annotations

from typing import Any

from dii_hpc.audit.job import AuditJob
from dii_hpc.errors import BadInput, CheckFailed


def sharded(job: AuditJob) -> bool:
    """A suite that runs as a shard array and a merge job (what `task_count` sizes)."""
    return job.level == "I" and job.suite().chain


def check(job: AuditJob) -> None:
    """A level I suite planned before the model exists; a standard whose blocks depend on
    the model's outputs (AutoAttack's) only runs as an array the submitting process waits for."""
    from dii_hpc.audit.specs import suites

    if job.level != "I":
        raise BadInput(f"--executor slurm runs the level I suites "
                       f"({', '.join(s.name for s in suites())}), one array task per shard")
    if not job.suite().chain:
        raise BadInput(f"--standard {job.suite().name} runs its blocks as an array the "
                       "submitting process waits for: drop --no-wait (and use it outside "
                       "pipelines)")


def _plan(job: AuditJob) -> list[str]:
    from dii_hpc.audit.placement import slurm

    return slurm.plan(job)


def task_count(job: AuditJob) -> int:
    """Array size covering the suite's plan for any task the model may turn out to have
    (its config's `task:` when given)."""
    return len(_plan(job))


def task_at(job: AuditJob, index: int) -> str | None:
    """The index-th task key of the plan (None past its end)."""
    keys = _plan(job)
    return keys[index] if index < len(keys) else None


def compute_at(job: AuditJob, index: int) -> str | None:
    """Array task body (pipelines): compute task ``index`` of the plan into the checkpoint;
    None when it has nothing to do (done already, past the end, not the model's task)."""
    from dii_hpc.audit.core import checkpoint
    from dii_hpc.audit.placement import slurm

    key = task_at(job, index)
    if key is None or key in checkpoint.for_job(job).done():
        return None
    out = slurm.compute_shard(job, key)
    return None if out.get("skipped") else key


def merge(job: AuditJob, under: list[str] | None = None,
          over: list[str] | None = None) -> dict[str, Any]:
    """The merge job's body: the suite in this process (every shard is done), thresholds,
    the audit run; a breached threshold fails the job (CheckFailed)."""
    from dii_hpc.audit.placement import runner

    result, checks = runner.execute(job.replace(executor="local"), under=under, over=over)
    failed = [c for c in checks if c["failed"]]
    if failed:
        c = failed[0]
        raise CheckFailed(f"audit run {result.get('run_id')}: threshold breached: "
                          f"{c['metric']}={c['value']:.4g} {c['op']} {c['limit']:g}")
    return {"run_id": result.get("run_id"), "grade": result.get("grade"),
            "summary": result.get("summary")}


def submit(job: AuditJob, *, timeout_min: int = 60, under: list[str] | None = None,
           over: list[str] | None = None) -> dict[str, Any]:
    """Create the audit run PENDING, queue the missing shards as one array and the merge job
    after it, record them; return at once.

    {"array": job id or None (every shard already done), "tasks": n, "merge": job id,
    "run_id": the audit run}."""
    from dii_hpc.audit.core import checkpoint, results
    from dii_hpc.audit.job import ArrayTasks
    from dii_hpc.audit.placement import arrays, slurm
    from dii_hpc.launch import backend, waiting

    check(job)
    missing = slurm.plan(job, done=checkpoint.for_job(job).done())
    kind, conf = backend.choose("slurm")
    sub = arrays.begin(job, "audit shards")
    run_id = results.create_pending(job, sub.store)
    jobs: list[Any] = []
    try:
        if missing:
            spec = slurm.array_job(sub, job, len(missing), timeout_min, conf=conf)
            jobs = backend.submit_array(backend.executor(spec),
                                        backend.RankZero(slurm.compute_shard),
                                        [job] * len(missing), missing, what="audit array")
        array = str(jobs[0].job_id).split("_")[0] if jobs else None
        last = job.replace(run_id=run_id, array=ArrayTasks(
            tuple((str(j.job_id), k) for j, k in zip(jobs, missing, strict=True)),
            str(sub.folder)) if jobs else None)
        spec = slurm.array_job(sub, last, 1, timeout_min, conf=conf,
                               dependency=f"afterany:{array}" if array else None)
        merged = backend.submit_one(backend.executor(spec), backend.RankZero(merge), last,
                                    under, over, what="audit merge job")
    except BaseException:
        waiting.cancel(jobs)
        sub.store.delete_run(run_id)
        raise
    arrays.record(sub, kind, [*jobs, merged], run_id=run_id, run_job=merged)
    return {"array": array, "tasks": len(missing), "merge": str(merged.job_id),
            "run_id": run_id}


def queue(job: AuditJob, *, outputs: bool = False, persist: bool = True,
          under: list[str] | None = None, over: list[str] | None = None) -> dict[str, Any]:
    """`--no-wait`: the shard array and its merge job queued, nothing waiting here; the
    result is a run, so it goes with `--executor slurm` and no local outputs."""
    if job.executor != "slurm" or outputs or not persist:
        raise BadInput("--no-wait goes with --executor slurm, and the result is a run "
                       "(drop --json, --junit, --no-store)")
    return submit(job, under=under, over=over)
