"""`--executor slurm`: a level I suite (evasion, privacy, poisoning) as one Slurm job array
plus a merge.

Each array task computes one shard into the job's checkpoint: an attack or one eps of the
robustness curve (`evasion.suite.compute_shard`), a privacy attack (`privacy.suite`), one
poison fraction or the label-flip curve (`poisoning.suite`), or one block of samples of
AutoAttack's standard (`autoattack.compute_block`). With `sample_shards: k` in the config an
ART shard is split by samples into k tasks (whole randomness blocks each, `sample_shards`).
Torch engine shards (`--engine torch`, `--standard`) run on the task's device: its GPU when
Slurm gave it one (CUDA_VISIBLE_DEVICES from the GRES), else the CPU. The merge step is the
ordinary suite, which finds every shard (or its parts) done and only aggregates. Shards that
already exist (an earlier, interrupted submission) are not resubmitted. The checkpoint
lives in the store (`checkpoint.for_job`), which every node shares. The array is built by
launch.backend from the config's `resources:` and `setup:` (as for every job kind: the store
variable, requeues, nodes, GPUs); a shard is one process (rank 0). Its folder and job record
are in `<store>/jobs/` (`arrays`); the audit run is open while it computes, so `dii-hpc
status` shows it and `dii-hpc cancel` stops it; a failed task is named with its exception.

Planning does not build the model to learn its task (`plan`): the task is the config's, else
what the model reference knows, else the plan covers every task the model may have, and each
array task, which builds the model anyway, skips a key that is not in its own task's plan.
"""

from __future__ import annotations

import os
from typing import Any

from dii_hpc.audit.job import AuditJob
from dii_hpc.audit.model.protocols import Predictor, Task
from dii_hpc.audit.specs import Facts, Suite
from dii_hpc.errors import BadInput


def compute_shard(job: AuditJob, shard: str) -> dict[str, Any]:
    """Array task body: rebuild model and data, compute one shard (or one sample part of
    it, `sample_shards`) into the checkpoint through the suite's record; say where it ran.
    A key of a plan made without knowing the model's task that its task does not have is
    skipped."""
    from dii_hpc.audit.core import checkpoint, sample_shards
    from dii_hpc.audit.core.data import prepare

    suite = job.suite()
    prep = prepare(job)
    where = {"shard": shard, "node": os.environ.get("SLURMD_NODENAME"),
             "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}
    if suite.chain and shard not in plan(job, Facts.of(prep.model)):
        return where | {"device": _device_of(prep.model),
                        "skipped": f"not in the {suite.name} suite of {prep.task.value}"}
    ck = checkpoint.for_job(job)
    base, part = sample_shards.split(shard)
    generator = None
    if part is not None:  # only the part's blocks are kept; the shard's record is not
        generator, ck = sample_shards.writer(ck, base, *part), checkpoint.Checkpoint(None)
    suite.compute_shard(job, prep, base, ck, generator)
    return where | {"device": _device_of(prep.model)}


def _device_of(model: Predictor) -> str:
    params = getattr(getattr(model, "module", None), "parameters", None)
    param = next(iter(params()), None) if callable(params) else None
    return str(param.device) if param is not None else "cpu"


def _keys(job: AuditJob, suite: Suite, facts: Facts) -> list[str]:
    """The suite's task keys for what is known: its shards, each split into
    `sample_shards` parts where its work can be split by samples."""
    from dii_hpc.audit.core import sample_shards

    return sample_shards.plan(suite.plan(job, facts), job.config.sample_shards,
                              lambda shard: suite.blocked(job, shard), [])


def plan(job: AuditJob, facts: Facts | None = None, done: list[str] | None = None) -> list[str]:
    """The array's task keys not in ``done``: the plan of the model's task when known (the
    job's, else ``facts``), else every key some task's plan has (in the order of `Task`); with
    ``retrainable`` unknown, the privacy suite plans LiRA and RMIA as if the model had `fit`.
    A suite that is not planned before the model exists (``chain=False``) plans once."""
    suite = job.suite()
    facts = facts or Facts(job.task)
    if facts.task is not None or not suite.chain:
        keys = _keys(job, suite, facts)
    else:
        keys, errors = [], []
        for task in (t for t in Task if suite.applies(t)):
            try:
                found = _keys(job, suite, Facts(task, facts.retrainable))
            except BadInput as err:  # a task the suite does not cover, or attacks it lacks
                errors.append(err)
                continue
            keys += [k for k in found if k not in keys]
        if not keys and errors:
            raise errors[0]
    return [k for k in keys if k not in (done or [])]


def shard_resources(job: AuditJob, timeout_min: int, n_shards: int, cpus: int = 1) -> Any:
    """The config's `resources:` (validated like a sweep's when the config was read),
    --partition over it; by default one hour, every shard at once and ``cpus`` CPUs."""
    from dii_hpc.config.schema import Resources

    res = job.config.resources or Resources()
    raw = res.model_dump(exclude_unset=True)
    raw.setdefault("time", str(timeout_min))
    if cpus > 1:
        raw.setdefault("cpus_per_task", cpus)
    raw.setdefault("array_parallelism", max(1, n_shards))
    if job.partition:
        raw["partition"] = job.partition
    return Resources.model_validate(raw)


def array_job(sub: Any, job: AuditJob, n_tasks: int, timeout_min: int = 60,
              dependency: str | None = None, conf: dict[str, str] | None = None) -> Any:
    """The backend Job of a suite's shard array (also the merge job's, in `chain`), in the
    submission ``sub``'s folder of the store (`arrays.begin`)."""
    from dii_hpc.audit.placement import arrays
    from dii_hpc.launch import backend

    res = shard_resources(job, timeout_min, n_tasks)
    kind, conf = ("slurm", conf) if conf is not None else backend.choose("slurm")
    return arrays.backend_job(sub, res, backend.job_name("audit", job.name),
                              list(job.config.setup), kind, conf, dependency)


def run(job: AuditJob, *, timeout_min: int = 60, examples_dir: str | None = None,
        owner: Any = None, model: Predictor | None = None) -> dict[str, Any]:
    """Submit the missing shards as one array, wait, then merge in this process; ``owner``
    (`results.AuditRun`): the audit's run, opened before the array is submitted; ``model``:
    the model when this process had to build it anyway (reference models), whose task and
    `fit` then plan exactly."""
    from dii_hpc.audit import engine
    from dii_hpc.audit.core import checkpoint
    from dii_hpc.audit.placement import arrays
    from dii_hpc.launch import backend, waiting

    if job.level != "I":
        from dii_hpc.audit.specs import suites

        raise BadInput(f"--executor slurm runs the level I suites "
                       f"({', '.join(s.name for s in suites())}), one array task per shard")
    ck = checkpoint.for_job(job)
    facts = Facts.of(model) if model is not None else Facts(job.task)
    missing, tasks, array = plan(job, facts, ck.done()), [], None
    if missing:
        run_ = owner.open() if owner is not None else None
        sub = arrays.begin(job, "audit shards")
        spec = array_job(sub, job, len(missing), timeout_min)
        jobs = backend.submit_array(backend.executor(spec), backend.RankZero(compute_shard),
                                    [job] * len(missing), missing, what="audit array")
        arrays.record(sub, spec.kind, jobs)
        array = str(jobs[0].job_id).split("_")[0]
        tasks = waiting.wait(jobs, missing, "audit shards", run_)
    result = engine.compute(job, examples_dir=examples_dir)
    result["slurm"] = {"array_tasks": len(missing), "job_id": array,
                       "tasks": tasks}  # shard, device, node, gpus of each task
    return result
