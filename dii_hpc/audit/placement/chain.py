"""A level I suite on Slurm as a chain: the shard array, then a tiny dependent merge job.

`slurm_suite.run` (what `audit suite --executor slurm` does by default) waits in the
submitting process for the array and merges there; on a login node that process is what
dies with the SSH session. Here nothing waits: `submit` creates the audit run PENDING,
queues the shard array and a merge job that Slurm holds with `--dependency=afterany:<array>`,
and records them (`<store>/jobs/<id>.json`, the run as the merge job's), so `dii-hpc status`
follows the run and `dii-hpc cancel` cancels both jobs. The merge first checks the array's
tasks (a failed one ends the run FAILED with the task's exception line), then runs the
ordinary suite, which finds every shard done, aggregates, checks the thresholds and writes
the result into the run.

Pipelines (`dii_hpc.pipeline`) build the same chain before the model exists (it comes from
an upstream stage): their array has `task_count` tasks and task i computes `task_at(job, i)`,
the i-th key of the suite's full plan for the model's real task (tasks past its end have
nothing to do).
"""

from __future__ import annotations

from typing import Any

from dii_hpc.audit.placement.slurm import SUITES as SHARDED  # the suites split into shards
from dii_hpc.errors import BadInput, CheckFailed


def check(job: dict[str, Any]) -> None:
    """The level I suites split into shards (`SHARDED`); AutoAttack's standard only waits
    in the submitting process (its blocks depend on the model's output)."""
    if job["level"] != "I" or job["name"] not in SHARDED:
        raise BadInput(f"--executor slurm runs the level I suites ({', '.join(SHARDED)}), "
                       "one array task per shard")
    if job["cfg"].get("standard"):
        raise BadInput("--standard runs its blocks as an array the submitting process waits "
                       "for: drop --no-wait (and use it outside pipelines)")


def _plan(job: dict[str, Any], task: Any) -> list[str]:
    """The most task keys the suite can have for ``task`` (privacy: with LiRA and RMIA, in
    case the model turns out to have fit), before the model exists."""
    from dii_hpc.audit.core import sample_shards
    from dii_hpc.audit.evasion import suite as evasion_suite
    from dii_hpc.audit.poisoning import suite as poisoning_suite
    from dii_hpc.audit.privacy import suite as privacy_suite

    cfg = job["cfg"]
    parts = int(cfg.get("sample_shards") or 1)
    if job["name"] == "poisoning":
        return poisoning_suite.shard_keys(task)
    if job["name"] == "privacy":
        return sample_shards.plan(privacy_suite.shard_keys(task, cfg.get("attacks"), True), parts,
                                  privacy_suite.blocked, [])
    engine = cfg.get("engine", "art")
    return sample_shards.plan(evasion_suite.shard_keys(task, cfg.get("attacks")), parts,
                              lambda shard: evasion_suite.blocked(shard, engine), [])


def task_count(job: dict[str, Any]) -> int:
    """Array size covering the suite's plan for any task the model may turn out to have
    (its config's `task:` when given)."""
    from dii_hpc.audit.model.protocols import Task

    tasks = [Task.parse(job["cfg"]["task"])] if job["cfg"].get("task") else list(Task)
    sizes, errors = [], []
    for task in tasks:
        try:
            sizes.append(len(_plan(job, task)))
        except BadInput as err:  # a task the suite does not cover, or attacks it lacks
            errors.append(err)
    if not sizes:
        raise errors[0]
    return max(sizes)


def task_at(job: dict[str, Any], index: int) -> str | None:
    """The index-th task key of the suite's plan for the model's own task, or None."""
    from dii_hpc.audit.placement import slurm as slurm_suite
    from dii_hpc.audit.prepare import task_of

    plan = slurm_suite.task_keys(job, task_of(job["cfg"]), [])  # its own plan: <= task_count
    return plan[index] if index < len(plan) else None


def compute_at(job: dict[str, Any], index: int) -> str | None:
    """Array task body (pipelines): compute task ``index`` of the plan into the checkpoint."""
    from dii_hpc.audit.core import checkpoint
    from dii_hpc.audit.placement import slurm as slurm_suite

    key = task_at(job, index)
    if key is None or key in checkpoint.for_job(job).done():
        return None
    return slurm_suite.compute_shard(job, key)


def merge(job: dict[str, Any], under: list[str] | None = None,
          over: list[str] | None = None) -> dict[str, Any]:
    """The merge job's body: the suite in this process (every shard is done), thresholds,
    the audit run; a breached threshold fails the job (CheckFailed)."""
    from dii_hpc.audit.placement import runner

    result, checks = runner.execute({**job, "executor": "local"}, under=under, over=over)
    failed = [c for c in checks if c["failed"]]
    if failed:
        c = failed[0]
        raise CheckFailed(f"audit run {result.get('run_id')}: threshold breached: "
                          f"{c['metric']}={c['value']:.4g} {c['op']} {c['limit']:g}")
    return {"run_id": result.get("run_id"), "grade": result.get("grade"),
            "summary": result.get("summary")}


def submit(job: dict[str, Any], *, partition: str | None = None, timeout_min: int = 60,
           under: list[str] | None = None, over: list[str] | None = None) -> dict[str, Any]:
    """Create the audit run PENDING, queue the missing shards as one array and the merge job
    after it, record them; return at once.

    {"array": job id or None (every shard already done), "tasks": n, "merge": job id,
    "run_id": the audit run}."""
    from dii_hpc.audit.core import checkpoint, results
    from dii_hpc.audit.placement import arrays, runner
    from dii_hpc.audit.placement import slurm as slurm_suite
    from dii_hpc.audit.prepare import task_of
    from dii_hpc.launch import backend

    check(job)
    missing = slurm_suite.task_keys(job, task_of(job["cfg"]), checkpoint.for_job(job).done())
    kind, conf = backend.choose("slurm")
    sub = arrays.begin(job, "audit shards")
    run_id = results.create_pending(job, runner.threat(job), sub.store)
    jobs: list[Any] = []
    try:
        if missing:
            spec = slurm_suite.array_job(sub, job, len(missing), partition, timeout_min, conf=conf)
            jobs = backend.submit_array(backend.executor(spec),
                                        backend.RankZero(slurm_suite.compute_shard),
                                        [job] * len(missing), missing, what="audit array")
        array = str(jobs[0].job_id).split("_")[0] if jobs else None
        last = {**job, "run_id": run_id}
        if jobs:
            last["array"] = {"tasks": [[str(j.job_id), k] for j, k in zip(jobs, missing,
                                                                          strict=True)],
                             "folder": str(sub.folder)}
        spec = slurm_suite.array_job(sub, last, 1, partition, timeout_min, conf=conf,
                                     dependency=f"afterany:{array}" if array else None)
        merged = backend.submit_one(backend.executor(spec), backend.RankZero(merge), last,
                                    under, over, what="audit merge job")
    except BaseException:
        arrays.cancel(jobs)
        sub.store.delete_run(run_id)
        raise
    arrays.record(sub, kind, [*jobs, merged], run_id=run_id, run_job=merged)
    return {"array": array, "tasks": len(missing), "merge": str(merged.job_id),
            "run_id": run_id}
