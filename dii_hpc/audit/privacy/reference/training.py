"""Where a job's reference models are trained, before the job computes (`prepare`).

The runner calls `prepare` for every audit job; for LiRA, RMIA, `dp_canary` and the level I
privacy suite of a model with `fit` it builds the job's plans (`reference.attacks`) and
trains the models that are not in the store yet:
- `--executor slurm`: ONE job array through `launch.backend` (the config's `resources:`
  and `setup:` as for every job: GPUs per task, partition, time), a task per missing model;
- "processes": the same array on this host (submitit's local executor);
- local (the default): one after another in this process.
The job then finds every model in the store and only scores, so MPI ranks and suite array
shards never train, and a second audit of another target with the same population and
recipe submits nothing. A task that finds its model complete (an earlier array that was
interrupted, requeued or resubmitted) skips it: the array resumes per model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dii_hpc.audit.core.data import Prepared
from dii_hpc.audit.job import AuditJob
from dii_hpc.audit.privacy.reference import attacks as ra
from dii_hpc.audit.privacy.reference import models as reference_models

EXECUTORS = ("local", "processes", "slurm")


def _trains(job: AuditJob) -> Any:
    """What trains the job's reference models: its attack's or its suite's record."""
    from dii_hpc.audit.specs import attack, suite

    if job.level == "I":
        return None if job.config.standard else suite(job.name).trains
    return None if "." in job.name else attack(job.name, job.config.engine).trains


def handles(job: AuditJob) -> bool:
    """Level II/III jobs of the reference attacks (their own work is scoring, in process)."""
    return job.level != "I" and _trains(job) is not None


def requests(job: AuditJob, prep: Prepared) -> list[dict[str, Any]]:
    """The reference-model plans a job needs (none for most jobs); bad parameters, a model
    without `fit` and a population too small are refused here, before any submission."""
    trains = _trains(job)
    return list(trains(job, prep)) if trains is not None else []


def prepare(job: AuditJob, owner: Any = None, executor: str | None = None
            ) -> tuple[dict[str, Any] | None, Any]:
    """Train the job's missing reference models where it runs: (what was trained, reused
    and submitted, or None when the job needs none; the model, when it had to be built).
    ``executor``: the job's unless given ("processes": an array of local processes);
    ``owner`` (`results.AuditRun`): the audit's run, opened before an array is submitted."""
    if _trains(job) is None:
        return None, None
    from dii_hpc.audit.core.data import prepare as build

    executor = executor or job.executor
    prep = build(job)
    wanted = requests(job, prep)
    if not wanted:
        return None, prep.model
    t0 = time.perf_counter()
    plans = [ra.request_plan(r, job, prep) for r in wanted]
    todo = [(job, r, i) for r, p in zip(wanted, plans, strict=True) for i in p.missing()]
    job_id = None
    if executor == "local":
        for p in plans:
            reference_models.train_inline(prep.model, p)
    else:
        job_id = run_array(train_task, todo, job,
                           "local" if executor == "processes" else executor, owner)
    total = sum(len(p.keys) for p in plans)
    return {"models": total, "trained": len(todo), "reused": total - len(todo),
            "executor": executor, "job_id": job_id, "folder": str(plans[0].root),
            "time_s": time.perf_counter() - t0}, prep.model


def train_task(job: AuditJob, request: dict[str, Any], index: int) -> str:
    """Array task body: rebuild model and data, train model `index` of the plan."""
    from dii_hpc.audit.core.data import prepare as build

    prep = build(job)
    p = ra.request_plan(request, job, prep)
    reference_models.train_one(prep.model, p, index, in_place=True)
    return p.keys[index]


def run_array(task: Callable[..., Any], args: list[tuple[Any, ...]], job: AuditJob,
              kind: str, owner: Any = None, timeout_min: int = 60) -> str | None:
    """One job array (kind slurm, or local processes) through launch.backend, a task per
    args tuple, recorded in `<store>/jobs/` (`arrays`); waits for every task and returns the
    array's job id."""
    from dii_hpc.audit.placement import arrays
    from dii_hpc.audit.placement.slurm import shard_resources
    from dii_hpc.launch import backend

    if not args:
        return None
    res = shard_resources(job, timeout_min, len(args))
    kind, conf = backend.choose(kind)
    run = owner.open() if owner is not None else None
    sub = arrays.begin(job, "reference models")
    spec = arrays.backend_job(sub, res, backend.job_name("reference", job.experiment),
                              list(job.config.setup), kind, conf)
    jobs = backend.submit_array(backend.executor(spec), backend.RankZero(task),
                                *zip(*args, strict=True), what="reference-model array")
    arrays.record(sub, kind, jobs)
    arrays.wait(jobs, [f"model {a[-1]}" for a in args], "reference models", run)
    return str(jobs[0].job_id).split("_")[0]
