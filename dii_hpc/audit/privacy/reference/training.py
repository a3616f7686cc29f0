"""Where a job's reference models are trained, before the job computes (`prepare`).

The runner calls `prepare` for every audit job; for LiRA, RMIA, `dp_canary` and the level I
privacy suite of a model with `fit` it builds the job's plans (`reference.attacks`) and
trains the models that are not in the store yet:
- `--executor slurm`: ONE job array through `launch.backend` (the config's `resources:`
  and `setup:` as for every job: GPUs per task, partition, time);
- "processes": on this host, where the measured times say it costs least
  (`placement.packing.choose`): workers forked from this process (`placement.forked`: no
  Python start, no imports, the model and data already built), the same array of fresh
  processes (submitit's local executor), or one after another here;
- local (the default): one after another in this process.
An array task trains a pack of models (`placement.packing`: as many as make its start cost,
Python and imports, a small share of its time, never fewer tasks than free cores), sized
from a model's recorded time (`model.json`), else from one model trained here first (not
when the tasks ask for GPUs: then one model per task, whose times size the next array).
The job then finds every model in the store and only scores, so MPI ranks and suite array
shards never train, and a second audit of another target with the same population and
recipe submits nothing. A task that finds its model complete (an earlier array that was
interrupted, requeued or resubmitted) skips it, and a pack keeps each model as it ends:
the array resumes per model, and a model's numbers never depend on its pack.
"""

from __future__ import annotations

import os
import sys
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
    todo = [(r, i) for r, p in zip(wanted, plans, strict=True) for i in p.missing()]
    info: dict[str, Any] = {"job_id": None}
    if executor == "local":
        for p in plans:
            reference_models.train_inline(prep.model, p)
    elif todo:
        info = _array(job, prep, list(zip(wanted, plans, strict=True)), todo,
                      "local" if executor == "processes" else executor, owner)
    total = sum(len(p.keys) for p in plans)
    return {"models": total, "trained": len(todo), "reused": total - len(todo),
            "executor": executor, **info, "folder": str(plans[0].root),
            "time_s": time.perf_counter() - t0}, prep.model


def shard_time(plans: list[reference_models.Plan]) -> float | None:
    """The recorded time of one model (median over the plans' complete models)."""
    times = [t for p in plans for t in p.times()]
    return float(sorted(times)[len(times) // 2]) if times else None


def _gpus(job: AuditJob) -> bool:
    res = job.config.resources
    return res is not None and bool(res.gpus or res.gpus_per_task or res.gres)


def _array(job: AuditJob, prep: Any, planned: list[tuple[dict[str, Any], reference_models.Plan]],
           todo: list[tuple[dict[str, Any], int]], kind: str, owner: Any) -> dict[str, Any]:
    """The missing models where they cost least (`packing.choose`): one array of packed
    tasks, workers forked from this process (this host, where forking is safe) or here one
    after another. The shard time is recorded by complete models, else measured on one
    model here (unless the tasks ask for GPUs this process may lack: then one model per
    task, whose times size the next); the choice is said in one line on stderr."""
    from dii_hpc.audit.placement import arrays, forked, packing
    from dii_hpc.launch import backend
    from dii_hpc.store.store import resolve_store_path

    plans = [p for _, p in planned]
    shard_s, here = shard_time(plans), 0
    if shard_s is None and not _gpus(job):
        request, index = todo[0]
        reference_models.train_one(prep.model, next(p for r, p in planned if r is request),
                                   index)
        todo, here, shard_s = todo[1:], 1, shard_time(plans)
    kind, conf = backend.choose(kind)
    root = resolve_store_path(None)
    start_s, known = packing.start_cost(root, kind)
    res = job.config.resources
    slots = packing.free_slots(kind, job.partition, res.cpus_per_task if res else 1,
                               res.array_parallelism if res else None)
    no_fork = forked.unsafe() if kind != "slurm" and not _gpus(job) else "Slurm"
    fork_s = packing.start_cost(root, "forked")[0] if no_fork is None else None
    # tasks that hold several CPUs and fork: on Slurm, unless the config sets the CPUs
    held = res is not None and "cpus_per_task" in res.model_fields_set
    node = packing.node_cpus(job.partition) if kind == "slurm" and not held else 1
    choice = packing.choose(len(todo), shard_s, start_s, slots, kind, fork_s,
                            os.environ.get("DII_HPC_PLACEMENT") or None, node,
                            packing.start_cost(root, f"{kind}-held")[0])
    line = choice.line + ("" if kind == "slurm" or no_fork is None
                          else f"; no forked workers: {no_fork}")
    print(f"reference models: {line}", file=sys.stderr)
    packs = packing.pack(todo, choice.per_task)
    submitted, job_id, results = time.time(), None, []
    if choice.how == "here":
        for request, index in todo:
            reference_models.train_one(prep.model, _plan_of(planned, request), index)
    elif choice.how == "forked":
        sub = arrays.begin(job, "reference models")
        results = forked.run(train_forked, [(prep.model, planned, p) for p in packs],
                             [_label(p) for p in packs], "reference models",
                             owner.open() if owner is not None else None,
                             on_start=lambda tasks: arrays.record(sub, "local", tasks))
        job_id = f"forked {sub.id}"  # the submission: its record names the workers' pids
    else:
        job_id, results = run_array(train_pack, [(job, p) for p in packs], job, (kind, conf),
                                    owner, labels=[_label(p) for p in packs], cpus=choice.cpus)
    start = packing.measured_start(submitted, results)
    if start is not None:
        packing.record_start(root, "forked" if choice.how == "forked" else
                             f"{kind}-held" if choice.cpus > 1 else kind, start)
    return {"job_id": job_id, "trained_here": here,  # to measure it; "here": the rest too
            "placement": choice.how, "placement_line": line,
            "packing": {"shard_s": shard_s, "start_s": start_s, "start_measured": known,
                        "fork_s": fork_s, "slots": slots, "tasks": len(packs),
                        "cpus": choice.cpus, "workers": sum(
                            r.get("workers", 1) if isinstance(r, dict) else 1 for r in results),
                        "per_task": max((len(p) for p in packs), default=0),
                        "start_now_s": start, "last_end_s": max(
                            (r["ended"] - submitted for r in results if "ended" in r),
                            default=None)}}


def _plan_of(planned: list[tuple[dict[str, Any], reference_models.Plan]],
             request: dict[str, Any]) -> reference_models.Plan:
    return next(p for r, p in planned if r is request)


def train_forked(model: Any, planned: list[tuple[dict[str, Any], reference_models.Plan]],
                 shards: list[tuple[dict[str, Any], int]]) -> list[str]:
    """Forked worker body (`placement.forked`): the parent's model and plans, inherited as
    they are; each model trained on its own copy and kept as it ends, as here."""
    done = []
    for request, index in shards:
        p = _plan_of(planned, request)
        reference_models.train_one(model, p, index)
        done.append(p.keys[index])
    return done


def _label(shards: list[tuple[dict[str, Any], int]]) -> str:
    return "model " + ", ".join(str(i) for _, i in shards)


def train_pack(job: AuditJob, shards: list[tuple[dict[str, Any], int]]) -> dict[str, Any]:
    """Array task body: rebuild model and data once, then train each (request, index)
    model of the pack (the model copied for each, as in this process: the same numbers),
    each kept as it ends (a task that dies leaves its finished models); a task holding
    several CPUs (SLURM_CPUS_PER_TASK) forks a worker per CPU (`placement.forked`), one
    start paid for all. Says when it was ready (`packing.measured_start`), what it
    trained, with how many workers and when its last model was kept."""
    import math

    from dii_hpc.audit.core.data import prepare as build
    from dii_hpc.audit.placement import forked, packing

    prep = build(job)
    ready = time.time()
    planned: list[tuple[dict[str, Any], reference_models.Plan]] = []
    for request, _ in shards:  # one plan per request (the pack's requests are shared objects)
        if not any(r is request for r, _ in planned):
            planned.append((request, ra.request_plan(request, job, prep)))
    cpus = min(int(os.environ.get("SLURM_CPUS_PER_TASK") or 1), len(shards))
    if cpus > 1 and forked.unsafe() is None:
        subs = packing.pack(shards, math.ceil(len(shards) / cpus))
        out = forked.run(train_forked, [(prep.model, planned, s) for s in subs],
                         [_label(s) for s in subs], "reference models")
        done = [k for o in out for k in o["result"]]
    else:
        cpus, done = 1, train_forked(prep.model, planned, shards)
    return {"ready": ready, "keys": done, "workers": cpus, "ended": time.time()}


def run_array(task: Callable[..., Any], args: list[tuple[Any, ...]], job: AuditJob,
              chosen: tuple[str, dict[str, str] | None], owner: Any = None,
              labels: list[str] | None = None, timeout_min: int = 60, cpus: int = 1
              ) -> tuple[str | None, list[Any]]:
    """One job array (``chosen``: `backend.choose`'s slurm or local executor) through
    launch.backend, a task per args tuple (``cpus`` CPUs each unless the config sets them),
    recorded in `<store>/jobs/` (`arrays`); waits for every task: (the array's job id, the
    tasks' results)."""
    from dii_hpc.audit.placement import arrays
    from dii_hpc.audit.placement.slurm import shard_resources
    from dii_hpc.launch import backend, waiting

    if not args:
        return None, []
    res = shard_resources(job, timeout_min, len(args), cpus)
    kind, conf = chosen
    run = owner.open() if owner is not None else None
    sub = arrays.begin(job, "reference models")
    spec = arrays.backend_job(sub, res, backend.job_name("reference", job.experiment),
                              list(job.config.setup), kind, conf)
    jobs = backend.submit_array(backend.executor(spec), backend.RankZero(task),
                                *zip(*args, strict=True), what="reference-model array")
    arrays.record(sub, kind, jobs)
    results = waiting.wait(jobs, labels or [f"task {k}" for k in range(len(args))],
                          "reference models", run)
    return str(jobs[0].job_id).split("_")[0], results
