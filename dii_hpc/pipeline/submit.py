"""`pipeline submit` and `resume`: every stage queued at once on Slurm, or run in order here.

On Slurm each stage becomes its job(s) through `launch.backend` (the sweep through
`launch.submit`, one array), held by `--dependency=afterok:<the jobs of what it needs>`
(`aftercorr:` for a command array that runs task i after task i), so the call returns once
sbatch has answered: nothing waits on the login node. Scheduler calls: one
`scontrol show config`, then one sbatch per stage (two for a sharded audit: its shard array
and the merge job). A stage whose key has a saved outcome, and whose needs are all reused,
is not submitted: its record says reused. If an sbatch fails, what this call submitted is
cancelled before the error surfaces.

The local executor runs the stages one after the other in this process (a laptop); a stage
that fails leaves what needs it CANCELLED with the reason, the others still run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import BadInput, SchedulerError
from dii_hpc.pipeline import cache, graph, state
from dii_hpc.pipeline.spec import Pipeline, Stage

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

EXECUTORS = ("auto", "local", "slurm")


@dataclass
class Submitted:
    id: str
    name: str
    executor: str
    order: list[str]
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)


def submit(path: str | Path, store: Store, executor: str = "auto") -> Submitted:
    """Check the file and every stage's config, record the pipeline, queue or run it."""
    from dii_hpc.launch import backend
    from dii_hpc.pipeline import checks, spec
    from dii_hpc.store.ids import new_run_id

    if executor not in EXECUTORS:
        raise BadInput(f"--executor {executor}: expected one of {', '.join(EXECUTORS)}")
    pipeline = spec.load(path)
    checks.check(pipeline)
    needs = {n: s.needs for n, s in pipeline.stages.items()}
    order = graph.order(needs)
    kind, conf = backend.choose(executor)
    code = cache.code_version(Path(path).resolve().parent)
    store.ensure_writable()
    record = {"id": new_run_id(), "name": pipeline.name, "source": str(Path(path).resolve()),
              "executor": kind, "store": str(store.root), "spec": pipeline.to_dict(),
              "order": order, "depths": graph.depths(needs),
              "keys": cache.keys(pipeline, order, code, store.root), "code": code,
              "git": _git(Path(path).resolve().parent),
              "created": time.time(), "host": os.uname().nodename, "submissions": []}
    try:
        return launch(store, record, order, conf)
    except BaseException:  # nothing half-submitted: launch cancelled what it queued
        if kind == "slurm":  # (a local run keeps what it did before an interrupt)
            shutil.rmtree(state.folder(store.root, record["id"]), ignore_errors=True)
        raise


def _git(cwd: Path) -> dict[str, Any]:
    from dii_hpc.launch.manifest import git_info

    return {k: v for k, v in git_info(cwd).items() if k in ("commit", "dirty", "branch")}


def resume(store: Store, pipeline_id: str, stage_states: dict[str, str]) -> Submitted:
    """Queue again the stages that did not finish (none may still be queued or running)."""
    from dii_hpc.launch import backend

    record = state.read_pipeline(store.root, pipeline_id)
    active = [s for s, st in stage_states.items() if st in vocab.ACTIVE]
    if active:
        raise BadInput(f"pipeline {record['id']}: stage {active[0]} is still "
                       f"{stage_states[active[0]]}; wait for it or `pipeline cancel` first")
    todo = [s for s in record["order"] if stage_states.get(s) != vocab.FINISHED]
    if not todo:
        return Submitted(record["id"], record["name"], record["executor"], [])
    kind, conf = backend.choose(record["executor"])
    record["executor"] = kind
    state.clear_cancel(store.root, record["id"])
    for name in todo:
        state.write_stage(store.root, record["id"], name, state=vocab.PENDING, error=None,
                          reused=False, jobs=[], outputs=None, runs=[], end_time=None)
    return launch(store, record, todo, conf)


def launch(store: Store, record: dict[str, Any], todo: list[str],
           conf: dict[str, str] | None) -> Submitted:
    pipeline = Pipeline.from_dict(record["spec"])
    record["submissions"].append({"time": time.time(), "stages": todo})
    state.write_pipeline(store.root, record)
    out = Submitted(record["id"], record["name"], record["executor"], list(todo))
    queued: dict[str, list[str]] = {}  # stage -> the job ids what needs it waits for
    arrays: dict[str, str] = {}  # array stage -> its array job id (aftercorr)
    submitted: list[str] = []
    try:
        for name in todo:
            stage = pipeline.stages[name]
            hit = cache.lookup(store.root, record["keys"][name])
            fresh = set(queued) | {n for n, r in out.stages.items() if not r.get("reused")}
            if hit is not None and not fresh.intersection(stage.needs):
                out.stages[name] = _reuse(store, record, name, hit)
                continue
            if record["executor"] != "slurm":
                out.stages[name] = _run_here(store, record, pipeline, stage, out.stages)
                continue
            jobs, final, array = _queue(store, record, stage, _dependency(stage, queued, arrays),
                                        conf)
            submitted += jobs
            queued[name] = final
            if array:
                arrays[name] = array
            out.stages[name] = state.read_stage(store.root, record["id"], name)
    except BaseException:
        if record["executor"] == "slurm":
            _rollback(store, submitted, [r for r in out.stages.values()
                                         if r.get("kind") == "sweep" and not r.get("reused")])
        raise
    return out


def _rollback(store: Store, jobs: list[str], sweeps: list[dict[str, Any]]) -> None:
    """Cancel what this call queued and drop the PENDING runs of the sweeps it submitted."""
    from dii_hpc.errors import StoreError

    if jobs:
        with contextlib.suppress(SchedulerError, OSError):  # the first failure is what to report
            from dii_hpc.slurm import commands

            commands.cancel(jobs)
    for record in sweeps:
        for rid in (record.get("outputs") or {}).get("runs") or []:
            with contextlib.suppress(StoreError):
                store.delete_run(rid)


def _reuse(store: Store, record: dict[str, Any], name: str, hit: dict[str, Any]) -> dict[str, Any]:
    kind = next(s["kind"] for s in record["spec"]["stages"] if s["name"] == name)
    return state.write_stage(store.root, record["id"], name, state=vocab.FINISHED, reused=True,
                             kind=kind,
                             reused_from=hit.get("pipeline"), key=record["keys"][name],
                             outputs=hit.get("outputs") or {}, runs=hit.get("runs") or [],
                             jobs=[], error=None)


def _dependency(stage: Stage, queued: dict[str, list[str]], arrays: dict[str, str]) -> str | None:
    if stage.options.get("each"):
        (need,) = stage.needs
        if need in arrays:
            return f"aftercorr:{arrays[need]}"
    ids = [j for n in stage.needs for j in queued.get(n, [])]
    return "afterok:" + ":".join(ids) if ids else None


def _stage_job(store: Store, record: dict[str, Any], stage: Stage, dependency: str | None,
               conf: dict[str, str] | None) -> Any:
    from dii_hpc.config.schema import Resources
    from dii_hpc.launch import backend

    folder = state.folder(store.root, record["id"]) / "submitit" / stage.name
    return backend.job(record["executor"], folder, Resources.model_validate(stage.resources),
                       store.root, backend.job_name(stage.name, record["name"]), stage.setup,
                       conf=conf, dependency=dependency)


def _queue(store: Store, record: dict[str, Any], stage: Stage, dependency: str | None,
           conf: dict[str, str] | None) -> tuple[list[str], list[str], str | None]:
    """Submit one stage: (every job id, the ids its dependents wait for, its array id)."""
    from dii_hpc.launch import backend
    from dii_hpc.pipeline import kinds
    from dii_hpc.pipeline.stage import StageJob, TaskJob

    pid, root = record["id"], store.root
    base = {"state": vocab.PENDING, "kind": stage.kind, "key": record["keys"][stage.name],
            "reused": False, "dependency": dependency, "submitted": time.time()}
    if stage.kind == "sweep":
        from dii_hpc.launch.submit import submit as submit_sweep

        res = submit_sweep(kinds.load_sweep(stage), store, "slurm", dependency=dependency,
                           slurm_conf=conf)
        outputs = {"experiment": res.experiment, "runs": res.run_ids,
                   "submission": res.submission_id}
        state.write_stage(root, pid, stage.name, **base, jobs=res.arrays, outputs=outputs,
                          runs=res.run_ids)
        return res.arrays, res.arrays, res.arrays[0] if len(res.arrays) == 1 else None
    state.write_stage(root, pid, stage.name, **base, jobs=[], outputs=None, runs=[])
    tasks = _tasks(stage)
    jobs: list[str] = []
    if tasks:
        spec = _stage_job(store, record, stage, dependency, conf)
        array = backend.submit_array(backend.executor(spec), TaskJob(root, pid, stage.name),
                                     list(range(tasks)), what=f"stage {stage.name} array")
        jobs.append(str(array[0].job_id).split("_")[0])
        if stage.kind == "command":  # the array is the stage
            state.write_stage(root, pid, stage.name, jobs=jobs)
            return jobs, jobs, jobs[0]
        dependency = f"afterok:{jobs[0]}"
    spec = _stage_job(store, record, stage, dependency, conf)
    job = backend.submit_one(backend.executor(spec), StageJob(root, pid, stage.name),
                             what=f"stage {stage.name} job")
    jobs.append(str(job.job_id))
    state.write_stage(root, pid, stage.name, jobs=jobs)
    return jobs, [jobs[-1]], None


def _tasks(stage: Stage) -> int:
    """Array tasks of a stage on Slurm: a command's `tasks:`, a sharded suite's shards."""
    if stage.kind == "command":
        tasks = int(stage.options.get("tasks", 1))
        return tasks if tasks > 1 else 0
    if stage.kind == "audit" and stage.options.get("shards", True) and stage.options.get("suite"):
        from dii_hpc.audit.placement import chain as slurm_chain
        from dii_hpc.pipeline import kinds

        job = kinds.audit_job(stage, None)
        if slurm_chain.sharded(job):
            return slurm_chain.task_count(job)
    return 0


def _run_here(store: Store, record: dict[str, Any], pipeline: Pipeline, stage: Stage,
              done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Local executor: the stage in this process, after what it needs has finished."""
    from dii_hpc.pipeline import stage as job

    pid, root = record["id"], store.root
    from dii_hpc.pipeline.status import reason

    base = {"kind": stage.kind, "key": record["keys"][stage.name], "reused": False, "jobs": []}
    recs = {**state.stages(root, pid, list(stage.needs)), **done}
    if any(recs[n].get("state") != vocab.FINISHED for n in stage.needs):
        why = reason({n: s.needs for n, s in pipeline.stages.items()}, recs, stage.name)
        return state.write_stage(root, pid, stage.name, **base, state=vocab.CANCELLED,
                                 error=why or "a stage it needs did not finish")
    state.write_stage(root, pid, stage.name, **base, state=vocab.PENDING, outputs=None)
    if stage.kind == "sweep":
        _sweep_here(store, record, stage)
    elif stage.kind == "command" and int(stage.options.get("tasks", 1)) > 1:
        _tasks_here(store, record, stage)
    else:
        with contextlib.suppress(Exception):  # the record says FAILED and why
            job.run_stage(str(root), pid, stage.name)
    return state.read_stage(root, pid, stage.name)


def _tasks_here(store: Store, record: dict[str, Any], stage: Stage) -> None:
    from dii_hpc.pipeline import kinds
    from dii_hpc.pipeline import stage as job

    pid = record["id"]
    state.write_stage(store.root, pid, stage.name, state=vocab.RUNNING, start_time=time.time())
    for i in range(int(stage.options["tasks"])):
        try:
            job.run_task(str(store.root), pid, stage.name, i)
        except Exception as err:  # noqa: BLE001 - recorded; the stages after it are cancelled
            state.write_stage(store.root, pid, stage.name, state=vocab.FAILED,
                              error=f"task {i}: {job.one_line(err)}", end_time=time.time())
            return
    state.write_stage(store.root, pid, stage.name, outputs={"tasks": int(stage.options["tasks"])})
    ctx = kinds.Context(store, pid, Pipeline.from_dict(record["spec"]), stage)
    job.settle_array(ctx, stage.name, record["keys"][stage.name])


def _sweep_here(store: Store, record: dict[str, Any], stage: Stage) -> None:
    from dii_hpc.launch import submit as sweep
    from dii_hpc.pipeline import kinds
    from dii_hpc.pipeline import stage as job

    pid = record["id"]
    try:
        res = sweep.submit(kinds.load_sweep(stage), store, "local")
    except Exception as err:  # noqa: BLE001 - recorded; the stages after it are cancelled
        state.write_stage(store.root, pid, stage.name, state=vocab.FAILED,
                          error=job.one_line(err), end_time=time.time())
        return
    outputs = {"experiment": res.experiment, "runs": res.run_ids, "submission": res.submission_id}
    state.write_stage(store.root, pid, stage.name, state=vocab.RUNNING, outputs=outputs,
                      runs=res.run_ids, start_time=time.time())
    sweep.finish_here("local", res.submission_id)
    from dii_hpc.launch.status import reconcile

    reconcile(store, res.experiment, use_sacct=False)
    ctx = kinds.Context(store, pid, Pipeline.from_dict(record["spec"]), stage)
    job.settle_array(ctx, stage.name, record["keys"][stage.name])
