"""`pipeline status` and `cancel`: each stage's state from its record and ONE sacct call.

A stage job writes its own record (RUNNING, FINISHED, FAILED); the scheduler is asked only
about stages whose record is not settled, all of them in one `sacct`. What the scheduler
knows and the record does not is written back: a job Slurm killed (TIMEOUT, OUT_OF_MEMORY,
NODE_FAIL), an array stage whose jobs ended (settled by its kind, `StageKind.settle`), and
stages cancelled because something they need failed, with the reason. A stage still held by
a dependency that can never be satisfied (Slurm's DependencyNeverSatisfied, where
--kill-on-invalid-dep is not honoured) is cancelled here and recorded the same way. How
stage states roll up into one is the records' (`records.pipeline.combine`, `overall`).
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import SchedulerError, StoreError
from dii_hpc.pipeline.graph import reason
from dii_hpc.pipeline.kind import STAGE_KINDS
from dii_hpc.records import pipeline as records
from dii_hpc.records.pipeline import PipelineRecord, StageRecord, combine, overall

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

__all__ = ["cancel", "combine", "overall", "reason", "status"]


def _job_states(job_ids: list[str], sched: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for job in job_ids:
        found = [r for k, r in sched.items() if k == job or k.startswith(f"{job}_")]
        out += [r["state"] for r in found] or [vocab.PENDING]  # not in accounting yet
    return out


def _error_of(sched: dict[str, dict[str, Any]], job_ids: list[str]) -> str | None:
    for job in job_ids:
        for key, rec in sched.items():
            if (key == job or key.startswith(f"{job}_")) and rec["state"] in vocab.UNSUCCESSFUL:
                return f"Slurm: job {key} {rec.get('slurm_state') or rec['state']}"
    return None


def status(store: Store, pipeline_id: str) -> dict[str, Any]:
    """{"id", "name", "executor", "state", "stages": {NAME: {state, jobs, reused, ...}}}."""
    from dii_hpc.pipeline import stage as stagejob

    record = records.read_pipeline(store.root, pipeline_id)
    recs = records.stages(store.root, record.id, record.order)
    open_jobs = [j for r in recs.values() if r.state not in vocab.TERMINAL for j in r.jobs]
    sched: dict[str, dict[str, Any]] = {}
    if open_jobs and record.executor == "slurm":
        from dii_hpc.slurm import commands

        sched = commands.query_jobs(open_jobs)
    for name in record.order:
        rec = recs[name]
        if rec.state in vocab.TERMINAL or not rec.jobs:
            continue
        settle = STAGE_KINDS.get(str(record.kind_of(name))).settle
        jobs_state = combine(_job_states(rec.jobs, sched))
        if jobs_state == vocab.FINISHED and settle is not None:
            stagejob.settle(store, record, name)
            recs[name] = records.read_stage(store.root, record.id, name)
        elif jobs_state in vocab.UNSUCCESSFUL and jobs_state != vocab.CANCELLED:
            why = rec.error or _error_of(sched, rec.jobs)
            if settle is not None:  # an array stage: the failed run's own error
                why = settle(store, rec.outputs or {})[1] or why
            recs[name] = records.write_stage(store.root, record.id, name, state=jobs_state,
                                             end_time=time.time(), error=why)
        elif jobs_state in (vocab.CANCELLED, vocab.RUNNING):
            recs[name] = rec.model_copy(update={"state": jobs_state})  # CANCELLED: why below
    _cancel_dependents(store, record, recs, sched)
    for name, rec in recs.items():
        if rec.state == vocab.CANCELLED and not rec.error:
            recs[name] = records.write_stage(store.root, record.id, name, state=vocab.CANCELLED,
                                             end_time=time.time(),
                                             error=_error_of(sched, rec.jobs))
    return _view(record, recs)


def _cancel_dependents(store: Store, record: PipelineRecord, recs: dict[str, StageRecord],
                       sched: dict[str, dict[str, Any]]) -> None:
    """Stages that need a stage which failed: record CANCELLED and why (scancel those that
    Slurm still holds)."""
    needs = {n: tuple(w) for n, w in record.needs().items()}
    stuck: list[str] = []
    for name in record.order:
        rec = recs[name]
        if rec.state == vocab.FINISHED:
            continue
        why = reason(needs, recs, name)
        if why is None or (rec.state == vocab.CANCELLED and rec.error):
            continue
        if rec.state in vocab.ACTIVE or rec.state is None:
            stuck += [j for j in rec.jobs if combine(_job_states([j], sched)) in vocab.ACTIVE]
        recs[name] = records.write_stage(store.root, record.id, name, state=vocab.CANCELLED,
                                         error=why, end_time=rec.end_time or time.time())
    if stuck and record.executor == "slurm":
        from dii_hpc.slurm import commands

        with contextlib.suppress(SchedulerError):  # already gone: nothing to cancel
            commands.cancel(stuck)


def _view(record: PipelineRecord, recs: dict[str, StageRecord]) -> dict[str, Any]:
    stages = {name: {"state": rec.shown_state, "jobs": rec.jobs, "reused": rec.reused,
                     "error": rec.error, "kind": rec.kind, "runs": rec.runs,
                     "outputs": rec.outputs or {}, "dependency": rec.dependency,
                     "reused_from": rec.reused_from}
              for name, rec in ((n, recs[n]) for n in record.order)}
    return {"id": record.id, "name": record.name, "executor": record.executor,
            "created": record.created, "source": record.source,
            "state": overall([recs[n].shown_state for n in record.order]), "stages": stages}


def cancel(store: Store, pipeline_id: str) -> list[str]:
    """Cancel every stage that has not ended: its cancel is noted (`records.request_cancel`,
    and for the runs it made, the run's own) before its jobs are scancelled, so that a stage
    (or run) the signal stops ends CANCELLED, not FAILED. Returns the stages cancelled."""
    from dii_hpc.store import records as runs

    record = records.read_pipeline(store.root, pipeline_id)
    recs = records.stages(store.root, record.id, record.order)
    open_stages = [n for n, r in recs.items() if r.state not in vocab.TERMINAL]
    if not open_stages:
        return []
    records.request_cancel(store.root, record.id, open_stages)
    for name in open_stages:
        for rid in recs[name].runs:
            with contextlib.suppress(StoreError, OSError):  # a run that is gone
                if store.run(rid).get("status") in vocab.ACTIVE:
                    runs.request_cancel(store.run_dir(rid))
    jobs = [j for n in open_stages for j in recs[n].jobs]
    if jobs and record.executor == "slurm":
        from dii_hpc.slurm import commands

        commands.cancel(jobs)
    for name in open_stages:
        records.write_stage(store.root, record.id, name, state=vocab.CANCELLED,
                            error=records.CANCELLED_WHY, end_time=time.time())
    return open_stages
