"""`--executor slurm`: a level I evasion suite as one Slurm job array plus a merge step.

Each array task computes one shard (an attack, or one eps of the robustness curve) with
`evasion_suite.compute_shard` and leaves it in the job's checkpoint directory; the merge
step is the ordinary suite, which finds every shard done and only aggregates. Shards that
already exist (an earlier, interrupted submission) are not resubmitted. The checkpoint
lives under $DII_HPC_CACHE, which must be on the shared filesystem on a real cluster.
Submission goes through submitit directly (the launch package owns `dii-hpc submit`).
"""

from __future__ import annotations

from typing import Any

from dii_hpc.errors import BadInput, SchedulerError


def compute_shard(job: dict[str, Any], shard: str) -> str:
    """Array task body: rebuild model and data, compute one shard into the checkpoint."""
    from dii_hpc.audit import checkpoint, evasion_suite
    from dii_hpc.audit.prepare import prepare

    prep = prepare(job["cfg"])
    evasion_suite.compute_shard(prep.model, prep.x, prep.y, prep.seed, shard,
                                checkpoint.for_job(job), engine=job["cfg"].get("engine", "art"))
    return shard


def run(job: dict[str, Any], *, partition: str | None = None, timeout_min: int = 60,
        examples_dir: str | None = None) -> dict[str, Any]:
    """Submit the missing shards as one array, wait, then merge in this process."""
    import submitit

    from dii_hpc.audit import checkpoint, engine, evasion_suite
    from dii_hpc.audit.protocols import Task
    from dii_hpc.config import refs

    if job["level"] != "I" or job["name"] != "evasion":
        raise BadInput("--executor slurm runs level I evasion suites (one task per shard)")
    ck = checkpoint.for_job(job)
    task = Task.parse(job["cfg"].get("task") or refs.build(job["cfg"]["model"], "model").task)
    missing = [k for k in evasion_suite.shard_keys(task, job["cfg"].get("attacks"))
               if k not in ck.done()]
    if missing:
        folder = ck.root.parent / f"{ck.root.name}-slurm"
        from dii_hpc.store.settings import private_dir

        private_dir(folder)  # pickled payloads: owner-only
        ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
        params: dict[str, Any] = {"timeout_min": timeout_min, "cpus_per_task": 1,
                                  "slurm_array_parallelism": len(missing),
                                  "name": f"dii-audit-{job['name']}"}
        if partition:
            params["slurm_partition"] = partition
        ex.update_parameters(**params)
        try:
            jobs = ex.map_array(compute_shard, [job] * len(missing), missing)
        except Exception as err:  # noqa: BLE001 - submitit wraps sbatch's own message
            raise SchedulerError(f"sbatch refused the audit array: "
                                 f"{str(err).strip().splitlines()[-1]}") from err
        for j, shard in zip(jobs, missing, strict=True):
            try:
                j.result()
            except Exception as err:  # noqa: BLE001 - a failed task, named with its shard
                raise SchedulerError(f"audit array task {j.job_id} ({shard}) failed: "
                                     f"{str(err).strip().splitlines()[-1]}") from err
    result = engine.compute(job, examples_dir=examples_dir)
    result["slurm"] = {"array_tasks": len(missing),
                       "job_id": jobs[0].job_id.split("_")[0] if missing else None}
    return result
