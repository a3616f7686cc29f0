"""`--executor slurm`: a level I evasion or privacy suite as one Slurm job array plus a merge.

Each array task computes one shard (an attack, or one eps of the robustness curve) with
`evasion_suite.compute_shard` / `privacy_suite.compute_shard` and leaves it in the job's
checkpoint directory; with `sample_shards: k` in the config a shard is split by samples
into k tasks (whole randomness blocks each, `sample_shards`). The merge step is the
ordinary suite, which finds every shard (or its parts) done and only aggregates. Shards that
already exist (an earlier, interrupted submission) are not resubmitted. The checkpoint
lives under $DII_HPC_CACHE, which must be on the shared filesystem on a real cluster.
The array is built by launch.backend from the config's `resources:` and `setup:` (as for every
job kind: the store variable, requeues, nodes, GPUs); a shard is one process (rank 0).
"""

from __future__ import annotations

from typing import Any

from dii_hpc import progress
from dii_hpc.errors import BadInput, SchedulerError


def compute_shard(job: dict[str, Any], shard: str) -> str:
    """Array task body: rebuild model and data, compute one shard (or one sample part of
    it, `sample_shards`) into the checkpoint."""
    from dii_hpc.audit import checkpoint, sample_shards
    from dii_hpc.audit.prepare import prepare

    prep = prepare(job["cfg"])
    ck = checkpoint.for_job(job)
    base, part = sample_shards.split(shard)
    generator = None
    if part is not None:  # only the part's blocks are kept; the shard's record is not
        generator, ck = sample_shards.writer(ck, base, *part), checkpoint.Checkpoint(None)
    if job["name"] == "privacy":
        from dii_hpc.audit import privacy_suite

        privacy_suite.compute_shard(prep.model, prep.train, prep.test, int(job["cfg"]["n_samples"]),
                                    prep.seed, base, ck, generator, job["cfg"])
    else:
        from dii_hpc.audit import evasion_suite

        evasion_suite.compute_shard(prep.model, prep.x, prep.y, prep.seed, base, ck, generator,
                                    engine=job["cfg"].get("engine", "art"))
    return shard


def task_keys(job: dict[str, Any], task: Any, done: list[str]) -> list[str]:
    """The array's tasks: the suite's missing shards, each split into `sample_shards`
    parts where its work can be split by samples."""
    from dii_hpc.audit import evasion_suite, privacy_suite, sample_shards

    suite = privacy_suite if job["name"] == "privacy" else evasion_suite
    shards = suite.shard_keys(task, job["cfg"].get("attacks"))
    if job["name"] == "privacy":  # LiRA/RMIA when the model has fit (models trained before)
        from dii_hpc.registry import uri

        shards = privacy_suite.shard_keys(task, job["cfg"].get("attacks"), callable(
            getattr(uri.build(job["cfg"]["model"], "model"), "fit", None)))
    parts = int(job["cfg"].get("sample_shards") or 1)
    return sample_shards.plan(shards, parts, suite.blocked, done)


def shard_resources(cfg: dict[str, Any], partition: str | None, timeout_min: int,
                    n_shards: int) -> Any:
    """The config's `resources:` (validated like a sweep's), --partition over it; by default
    one hour and every shard at once."""
    from pydantic import ValidationError

    from dii_hpc.config.explain import explain
    from dii_hpc.config.schema import Resources
    from dii_hpc.errors import ConfigError

    raw = dict(cfg.get("resources") or {})
    raw.setdefault("time", str(timeout_min))
    raw.setdefault("array_parallelism", max(1, n_shards))
    if partition:
        raw["partition"] = partition
    try:
        return Resources.model_validate(raw)
    except ValidationError as err:  # the one translation; its key paths are under resources
        raise ConfigError(f"resources.{explain(err, Resources)}") from err


def array_job(job: dict[str, Any], n_tasks: int, partition: str | None = None,
              timeout_min: int = 60, dependency: str | None = None,
              conf: dict[str, str] | None = None) -> Any:
    """The backend Job of a suite's shard array (also the merge job's, in `slurm_chain`)."""
    from dii_hpc.audit import checkpoint
    from dii_hpc.launch import backend
    from dii_hpc.store.store import Store

    ck = checkpoint.for_job(job)
    res = shard_resources(job["cfg"], partition, timeout_min, n_tasks)
    kind, conf = ("slurm", conf) if conf is not None else backend.choose("slurm")
    return backend.job(kind, ck.root.parent / f"{ck.root.name}-slurm", res, Store().root,
                       backend.job_name("audit", job["name"]),
                       list(job["cfg"].get("setup") or []), conf=conf, dependency=dependency)


def run(job: dict[str, Any], *, partition: str | None = None, timeout_min: int = 60,
        examples_dir: str | None = None) -> dict[str, Any]:
    """Submit the missing shards as one array, wait, then merge in this process."""
    from dii_hpc.audit import checkpoint, engine
    from dii_hpc.audit import prepare as cfgmod
    from dii_hpc.audit.protocols import Task
    from dii_hpc.launch import backend
    from dii_hpc.registry import uri

    if job["level"] != "I" or job["name"] not in ("evasion", "privacy"):
        raise BadInput("--executor slurm runs level I evasion and privacy suites "
                       "(one task per shard)")
    ck = checkpoint.for_job(job)
    cfg = job["cfg"]
    task = Task.parse(cfg.get("task") or uri.build(cfg["model"], "model", search=cfgmod.search(cfg)).task)
    missing = task_keys(job, task, ck.done())
    if missing:
        spec = array_job(job, len(missing), partition, timeout_min)
        jobs = backend.submit_array(backend.executor(spec), backend.RankZero(compute_shard),
                                    [job] * len(missing), missing, what="audit array")
        with progress.bar("audit: array tasks", len(jobs)) as bar:
            for j, shard in zip(jobs, missing, strict=True):
                try:
                    j.result()
                except Exception as err:  # noqa: BLE001 - a failed task, named with its shard
                    raise SchedulerError(f"audit array task {j.job_id} ({shard}) failed: "
                                         f"{str(err).strip().splitlines()[-1]}") from err
                bar.advance()
    result = engine.compute(job, examples_dir=examples_dir)
    result["slurm"] = {"array_tasks": len(missing),
                       "job_id": jobs[0].job_id.split("_")[0] if missing else None}
    return result
