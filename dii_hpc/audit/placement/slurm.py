"""`--executor slurm`: a level I suite (evasion, privacy, poisoning) as one Slurm job array
plus a merge.

Each array task computes one shard into the job's checkpoint: an attack or one eps of the
robustness curve (`evasion_suite.compute_shard`), a privacy attack (`privacy_suite`), one
poison fraction or the label-flip curve (`poisoning_suite`), or one block of samples of
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
"""

from __future__ import annotations

import os
from typing import Any

from dii_hpc.errors import BadInput

SUITES = ("evasion", "privacy", "poisoning")


def compute_shard(job: dict[str, Any], shard: str) -> dict[str, Any]:
    """Array task body: rebuild model and data, compute one shard (or one sample part of
    it, `sample_shards`) into the checkpoint; say where it ran."""
    from dii_hpc.audit.core import checkpoint
    from dii_hpc.audit.prepare import prepare

    cfg = job["cfg"]
    prep = prepare(cfg)
    ck = checkpoint.for_job(job)
    if cfg.get("standard"):
        from dii_hpc.audit.evasion.autoattack import standard as autoattack
        from dii_hpc.audit.evasion.torch_engine.target import of

        on_task_device(prep.model)
        p = autoattack.plan(prep.model, dict(cfg.get("params") or {}), shard.split("-")[1])
        autoattack.compute_block(of(prep.model, "--standard autoattack"), prep.x, prep.y, p,
                                 prep.seed, shard, ck)
    elif job["name"] == "poisoning":
        from dii_hpc.audit.engine import poison_target
        from dii_hpc.audit.poisoning import suite as poisoning_suite

        poisoning_suite.compute_shard(prep.model, prep.train, prep.test, prep.seed,
                                      poison_target(cfg), shard, ck)
    else:
        _sample_shard(job, prep, shard, ck)
    return {"shard": shard, "device": _device_of(prep.model),
            "node": os.environ.get("SLURMD_NODENAME"),
            "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}


def _sample_shard(job: dict[str, Any], prep: Any, shard: str, ck: Any) -> None:
    """An evasion or privacy shard, or one sample part of it."""
    from dii_hpc.audit.core import checkpoint, sample_shards

    base, part = sample_shards.split(shard)
    generator = None
    if part is not None:  # only the part's blocks are kept; the shard's record is not
        generator, ck = sample_shards.writer(ck, base, *part), checkpoint.Checkpoint(None)
    if job["name"] == "privacy":
        from dii_hpc.audit.privacy import suite as privacy_suite

        privacy_suite.compute_shard(prep.model, prep.train, prep.test, int(job["cfg"]["n_samples"]),
                                    prep.seed, base, ck, generator, job["cfg"])
        return
    from dii_hpc.audit.evasion import suite as evasion_suite

    engine = job["cfg"].get("engine", "art")
    if evasion_suite.shard_engine(base, engine) == "torch":
        on_task_device(prep.model)
    evasion_suite.compute_shard(prep.model, prep.x, prep.y, prep.seed, base, ck, generator,
                                engine=engine)


def on_task_device(model: Any) -> None:
    """A torch model's module moved to this task's device (`distributed.device`: the GPU
    Slurm's GRES left visible, else the CPU); the torch engine attacks it there."""
    from dii_hpc.distributed import device

    module = getattr(model, "module", None)
    if callable(getattr(module, "to", None)):
        module.to(device())


def _device_of(model: Any) -> str:
    params = getattr(getattr(model, "module", None), "parameters", None)
    param = next(iter(params()), None) if callable(params) else None
    return str(param.device) if param is not None else "cpu"


def task_keys(job: dict[str, Any], task: Any, done: list[str]) -> list[str]:
    """The array's tasks: the suite's missing shards, each split into `sample_shards`
    parts where its work can be split by samples."""
    from dii_hpc.audit.core import sample_shards
    from dii_hpc.audit.evasion import suite as evasion_suite
    from dii_hpc.audit.prepare import build_model
    from dii_hpc.audit.privacy import suite as privacy_suite

    cfg = job["cfg"]
    if cfg.get("standard"):  # AutoAttack's blocks; the variant needs the model
        from dii_hpc.audit.evasion.autoattack import standard as autoattack
        from dii_hpc.audit.prepare import prepare

        prep = prepare(cfg)
        p = autoattack.setup(prep.model, prep.x, dict(cfg.get("params") or {}))[0]
        return [k for k in autoattack.block_keys(p.variant, len(prep.x)) if k not in done]
    if job["name"] == "poisoning":
        from dii_hpc.audit.poisoning import attacks as poisoning
        from dii_hpc.audit.poisoning import suite as poisoning_suite

        model = build_model(cfg)
        poisoning.check(model, "poisoning suite", ("predict", "fit"))
        return [k for k in poisoning_suite.shard_keys(task) if k not in done]
    parts = int(cfg.get("sample_shards") or 1)
    if job["name"] == "privacy":  # LiRA/RMIA when the model has fit (models trained before)
        shards = privacy_suite.shard_keys(task, cfg.get("attacks"), callable(
            getattr(build_model(cfg), "fit", None)))
        return sample_shards.plan(shards, parts, privacy_suite.blocked, done)
    engine = cfg.get("engine", "art")
    return sample_shards.plan(evasion_suite.shard_keys(task, cfg.get("attacks")), parts,
                              lambda shard: evasion_suite.blocked(shard, engine), done)


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


def array_job(sub: Any, job: dict[str, Any], n_tasks: int, partition: str | None = None,
              timeout_min: int = 60, dependency: str | None = None,
              conf: dict[str, str] | None = None) -> Any:
    """The backend Job of a suite's shard array (also the merge job's, in `slurm_chain`), in
    the submission ``sub``'s folder of the store (`arrays.begin`)."""
    from dii_hpc.audit.placement import arrays
    from dii_hpc.launch import backend

    res = shard_resources(job["cfg"], partition, timeout_min, n_tasks)
    kind, conf = ("slurm", conf) if conf is not None else backend.choose("slurm")
    return arrays.backend_job(sub, res, backend.job_name("audit", job["name"]),
                              list(job["cfg"].get("setup") or []), kind, conf, dependency)


def run(job: dict[str, Any], *, partition: str | None = None, timeout_min: int = 60,
        examples_dir: str | None = None, owner: Any = None) -> dict[str, Any]:
    """Submit the missing shards as one array, wait, then merge in this process; ``owner``
    (`results.AuditRun`): the audit's run, opened before the array is submitted."""
    from dii_hpc.audit import engine
    from dii_hpc.audit.core import checkpoint
    from dii_hpc.audit.placement import arrays
    from dii_hpc.audit.prepare import task_of
    from dii_hpc.launch import backend

    if job["level"] != "I" or job["name"] not in SUITES:
        raise BadInput(f"--executor slurm runs the level I suites ({', '.join(SUITES)}), "
                       "one array task per shard")
    cfg = job["cfg"]
    if cfg.get("standard"):
        from dii_hpc.audit.evasion.autoattack import standard as autoattack

        autoattack.check(cfg, job["name"])
    ck = checkpoint.for_job(job)
    missing, tasks, array = task_keys(job, task_of(cfg), ck.done()), [], None
    if missing:
        run_ = owner.open() if owner is not None else None
        sub = arrays.begin(job, "audit shards")
        spec = array_job(sub, job, len(missing), partition, timeout_min)
        jobs = backend.submit_array(backend.executor(spec), backend.RankZero(compute_shard),
                                    [job] * len(missing), missing, what="audit array")
        arrays.record(sub, spec.kind, jobs)
        array = str(jobs[0].job_id).split("_")[0]
        tasks = arrays.wait(jobs, missing, "audit shards", run_)
    result = engine.compute(job, examples_dir=examples_dir)
    result["slurm"] = {"array_tasks": len(missing), "job_id": array,
                       "tasks": tasks}  # shard, device, node, gpus of each task
    return result
