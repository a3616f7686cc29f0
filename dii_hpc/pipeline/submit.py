"""`pipeline submit` and `resume`: every stage queued at once on Slurm, or run in order here.

On Slurm each stage becomes what its kind plans (`StageKind.plan`: its job, an array before
it, or an array that is the whole stage; a kind with its own `launch`, a sweep, submits
itself through `launch.submit`), held by `--dependency=afterok:<the jobs of what it needs>`
(`aftercorr:` for an array that runs task i after task i), so the call returns once sbatch
has answered: nothing waits on the login node. Scheduler calls: one `scontrol show config`,
then one sbatch per job. Every array leaves a job record (`<store>/jobs/<id>.json`, through
`launch.submit.record_jobs`, its submitit folder beside it), as every array of dii-hpc does,
so `store gc` and `dii-hpc status`/`cancel` see it. A stage whose key has a saved outcome,
and whose needs are all reused, is not submitted: its record says reused. If an sbatch
fails, what this call submitted is cancelled before the error surfaces.

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
from dii_hpc.pipeline import cache, graph
from dii_hpc.pipeline.kind import STAGE_KINDS, Launching, Plan, Queued
from dii_hpc.pipeline.spec import Pipeline, Stage
from dii_hpc.records import pipeline as records
from dii_hpc.records.pipeline import CachedOutcome, PipelineRecord, StageRecord

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

EXECUTORS = ("auto", "local", "slurm")


@dataclass
class Submitted:
    id: str
    name: str
    executor: str
    order: list[str]
    stages: dict[str, StageRecord] = field(default_factory=dict)


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
    record = PipelineRecord(
        id=new_run_id(), name=pipeline.name, source=str(Path(path).resolve()), executor=kind,
        store=str(store.root), spec=pipeline.to_dict(), order=order, depths=graph.depths(needs),
        keys=cache.keys(pipeline, order, code, store.root), code=code,
        git=_git(Path(path).resolve().parent), created=time.time(), host=os.uname().nodename)
    try:
        return launch(store, record, order, conf)
    except BaseException:  # nothing half-submitted: launch cancelled what it queued
        if kind == "slurm":  # (a local run keeps what it did before an interrupt)
            shutil.rmtree(records.folder(store.root, record.id), ignore_errors=True)
        raise


def _git(cwd: Path) -> dict[str, Any]:
    from dii_hpc.launch.manifest import git_info

    return {k: v for k, v in git_info(cwd).items() if k in ("commit", "dirty", "branch")}


def resume(store: Store, pipeline_id: str, stage_states: dict[str, str]) -> Submitted:
    """Queue again the stages that did not finish (none may still be queued or running)."""
    from dii_hpc.launch import backend

    record = records.read_pipeline(store.root, pipeline_id)
    active = [s for s, st in stage_states.items() if st in vocab.ACTIVE]
    if active:
        raise BadInput(f"pipeline {record.id}: stage {active[0]} is still "
                       f"{stage_states[active[0]]}; wait for it or `pipeline cancel` first")
    todo = [s for s in record.order if stage_states.get(s) != vocab.FINISHED]
    if not todo:
        return Submitted(record.id, record.name, record.executor, [])
    kind, conf = backend.choose(record.executor)
    record.executor = kind
    records.clear_cancel(store.root, record.id)
    for name in todo:
        records.write_stage(store.root, record.id, name, state=vocab.PENDING, error=None,
                            reused=False, jobs=[], outputs=None, runs=[], end_time=None)
    return launch(store, record, todo, conf)


def launch(store: Store, record: PipelineRecord, todo: list[str],
           conf: dict[str, str] | None) -> Submitted:
    """Reuse, queue (Slurm) or run (local) the stages ``todo``, in order."""
    pipeline = Pipeline.from_dict(record.spec)
    record.submissions.append({"time": time.time(), "stages": todo})
    records.write_pipeline(store.root, record)
    out = Submitted(record.id, record.name, record.executor, list(todo))
    queued: dict[str, list[str]] = {}  # stage -> the job ids what needs it waits for
    arrays: dict[str, str] = {}  # array stage -> its array job id (aftercorr)
    submitted: list[str] = []
    try:
        for name in todo:
            stage = pipeline.stages[name]
            hit = cache.lookup(store.root, record.keys[name])
            fresh = set(queued) | {n for n, r in out.stages.items() if not r.reused}
            if hit is not None and not fresh.intersection(stage.needs):
                out.stages[name] = _reuse(store, record, stage, hit)
                continue
            if record.executor != "slurm":
                out.stages[name] = _run_here(store, record, pipeline, stage, out.stages)
                continue
            plan = _plan(stage)
            queue = _queue(store, record, stage, plan, _dependency(stage, plan, queued, arrays),
                           conf)
            submitted += queue.jobs
            queued[name] = queue.final
            if queue.array:
                arrays[name] = queue.array
            out.stages[name] = records.read_stage(store.root, record.id, name)
    except BaseException:
        if record.executor == "slurm":
            _rollback(store, submitted, [r for r in out.stages.values() if not r.reused])
        raise
    return out


def _rollback(store: Store, jobs: list[str], stages: list[StageRecord]) -> None:
    """Cancel what this call queued and drop the PENDING runs its stages made (a sweep's)."""
    from dii_hpc.errors import StoreError

    if jobs:
        with contextlib.suppress(SchedulerError, OSError):  # the first failure is what to report
            from dii_hpc.slurm import commands

            commands.cancel(jobs)
    for rec in stages:
        for rid in rec.runs:
            with contextlib.suppress(StoreError):
                store.delete_run(rid)


def _reuse(store: Store, record: PipelineRecord, stage: Stage, hit: CachedOutcome) -> StageRecord:
    return records.write_stage(store.root, record.id, stage.name, state=vocab.FINISHED,
                               reused=True, kind=stage.kind, reused_from=hit.pipeline,
                               key=record.keys[stage.name], outputs=hit.outputs, runs=hit.runs,
                               jobs=[], error=None)


def _plan(stage: Stage) -> Plan:
    return STAGE_KINDS.get(stage.kind).plan(stage)


def _dependency(stage: Stage, plan: Plan, queued: dict[str, list[str]],
                arrays: dict[str, str]) -> str | None:
    if plan.each:
        (need,) = stage.needs
        if need in arrays:
            return f"aftercorr:{arrays[need]}"
    ids = [j for n in stage.needs for j in queued.get(n, [])]
    return "afterok:" + ":".join(ids) if ids else None


def _job_spec(store: Store, record: PipelineRecord, stage: Stage, folder: Path,
              dependency: str | None, conf: dict[str, str] | None) -> Any:
    from dii_hpc.config.schema import Resources
    from dii_hpc.launch import backend

    return backend.job(record.executor, folder, Resources.model_validate(stage.resources),
                       store.root, backend.job_name(stage.name, record.name), stage.setup,
                       conf=conf, dependency=dependency)


def _queue(store: Store, record: PipelineRecord, stage: Stage, plan: Plan,
           dependency: str | None, conf: dict[str, str] | None) -> Queued:
    """Submit one stage as its kind plans it."""
    from dii_hpc.launch import backend
    from dii_hpc.pipeline.stage import StageJob

    kind = STAGE_KINDS.get(stage.kind)
    base = {"state": vocab.PENDING, "kind": stage.kind, "key": record.keys[stage.name],
            "reused": False, "dependency": dependency, "submitted": time.time()}
    if kind.launch is not None:
        return kind.launch(Launching(store, record, stage, "slurm", dependency, conf, base))
    records.write_stage(store.root, record.id, stage.name, **base, jobs=[], outputs=None,
                        runs=[])
    jobs: list[str] = []
    if plan.tasks:
        jobs.append(_array(store, record, stage, plan.tasks, dependency, conf))
        if not plan.job:  # the array is the stage
            records.write_stage(store.root, record.id, stage.name, jobs=jobs)
            return Queued(jobs, jobs, jobs[0])
        dependency = f"afterok:{jobs[0]}"
    spec = _job_spec(store, record, stage, records.job_folder(store.root, record.id, stage.name),
                     dependency, conf)
    job = backend.submit_one(backend.executor(spec), StageJob(store.root, record.id, stage.name),
                             what=f"stage {stage.name} job")
    jobs.append(str(job.job_id))
    records.write_stage(store.root, record.id, stage.name, jobs=jobs)
    return Queued(jobs, [jobs[-1]])


def _array(store: Store, record: PipelineRecord, stage: Stage, tasks: int,
           dependency: str | None, conf: dict[str, str] | None) -> str:
    """The stage's array of ``tasks`` `TaskJob`s, with its job record; its job id."""
    from dii_hpc.launch import backend
    from dii_hpc.launch.submit import SubmitResult, record_jobs
    from dii_hpc.pipeline.stage import TaskJob
    from dii_hpc.store.ids import new_run_id

    sid = new_run_id()
    spec = _job_spec(store, record, stage, store.jobs_dir / sid / "submitit", dependency, conf)
    array = backend.submit_array(backend.executor(spec), TaskJob(store.root, record.id, stage.name),
                                 list(range(tasks)), what=f"stage {stage.name} array")
    array_id = str(array[0].job_id).split("_")[0]
    res = SubmitResult(sid, record.name, record.executor, [], "", arrays=[array_id],
                       plan_file=records.pipeline_file(store.root, record.id))
    record_jobs(store, res)
    return array_id


def _run_here(store: Store, record: PipelineRecord, pipeline: Pipeline, stage: Stage,
              done: dict[str, StageRecord]) -> StageRecord:
    """Local executor: the stage in this process, after what it needs has finished."""
    from dii_hpc.pipeline import stage as job
    from dii_hpc.pipeline.graph import reason

    kind = STAGE_KINDS.get(stage.kind)
    base = {"kind": stage.kind, "key": record.keys[stage.name], "reused": False, "jobs": []}
    recs = {**records.stages(store.root, record.id, list(stage.needs)), **done}
    if any(recs[n].state != vocab.FINISHED for n in stage.needs):
        why = reason({n: s.needs for n, s in pipeline.stages.items()}, recs, stage.name)
        return records.write_stage(store.root, record.id, stage.name, **base,
                                   state=vocab.CANCELLED,
                                   error=why or "a stage it needs did not finish")
    records.write_stage(store.root, record.id, stage.name, **base, state=vocab.PENDING,
                        outputs=None)
    plan = kind.plan(stage) if kind.launch is None else Plan()
    if kind.launch is not None:
        kind.launch(Launching(store, record, stage, "local"))
    elif not plan.job:
        _tasks_here(store, record, stage, plan.tasks)
    else:
        with contextlib.suppress(Exception):  # the record says FAILED and why
            job.run_stage(str(store.root), record.id, stage.name)
    return records.read_stage(store.root, record.id, stage.name)


def _tasks_here(store: Store, record: PipelineRecord, stage: Stage, tasks: int) -> None:
    """An array stage's tasks one after the other, then the stage settled."""
    from dii_hpc.pipeline import stage as job

    records.write_stage(store.root, record.id, stage.name, state=vocab.RUNNING,
                        start_time=time.time())
    for i in range(tasks):
        try:
            job.run_task(str(store.root), record.id, stage.name, i)
        except Exception as err:  # noqa: BLE001 - recorded; the stages after it are cancelled
            records.write_stage(store.root, record.id, stage.name, state=vocab.FAILED,
                                error=f"task {i}: {job.one_line(err)}", end_time=time.time())
            return
    records.write_stage(store.root, record.id, stage.name, outputs={"tasks": tasks})
    job.settle(store, record, stage.name)
