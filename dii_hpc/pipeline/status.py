"""`pipeline status` and `cancel`: each stage's state from its record and ONE sacct call.

A stage job writes its own record (RUNNING, FINISHED, FAILED); the scheduler is asked only
about stages whose record is not settled, all of them in one `sacct`. What the scheduler
knows and the record does not is written back: a job Slurm killed (TIMEOUT, OUT_OF_MEMORY,
NODE_FAIL), a sweep or command array that ended, and stages cancelled because something they
need failed, with the reason. A stage still held by a dependency that can never be
satisfied (Slurm's DependencyNeverSatisfied, where --kill-on-invalid-dep is not honoured) is
cancelled here and recorded the same way.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import SchedulerError, StoreError
from dii_hpc.pipeline import graph, state
from dii_hpc.pipeline.spec import Pipeline

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

_BAD_FIRST = (vocab.FAILED, vocab.OUT_OF_MEMORY, vocab.TIMEOUT, vocab.NODE_FAIL, vocab.PREEMPTED,
              vocab.KILLED)


def combine(states: list[str]) -> str:
    """One state for a stage's jobs (or a pipeline's stages): a failure first, then
    CANCELLED, then what still moves, FINISHED when all did."""
    for bad in _BAD_FIRST:
        if bad in states:
            return bad
    for word in (vocab.CANCELLED, vocab.RUNNING, vocab.PENDING):
        if word in states:
            if word == vocab.PENDING and vocab.FINISHED in states:
                return vocab.RUNNING  # some jobs ended, the rest wait: under way
            return word
    return vocab.FINISHED if states else vocab.PENDING


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
    from dii_hpc.pipeline import stage as stagemod
    from dii_hpc.pipeline.kinds import Context, sweep_outcome

    record = state.read_pipeline(store.root, pipeline_id)
    pid, root = record["id"], store.root
    pipeline = Pipeline.from_dict(record["spec"])
    recs = state.stages(root, pid, record["order"])
    open_jobs = [j for r in recs.values() if r.get("state") not in vocab.TERMINAL
                 for j in r.get("jobs") or []]
    sched: dict[str, dict[str, Any]] = {}
    if open_jobs and record["executor"] == "slurm":
        from dii_hpc.slurm import commands

        sched = commands.query_jobs(open_jobs)
    for name in record["order"]:
        rec = recs[name]
        if rec.get("state") in vocab.TERMINAL or not rec.get("jobs"):
            continue
        jobs_state = combine(_job_states(rec["jobs"], sched))
        if jobs_state == vocab.FINISHED and pipeline.stages[name].kind in stagemod.ARRAY_KINDS:
            ctx = Context(store, pid, pipeline, pipeline.stages[name])
            stagemod.settle_array(ctx, name, record["keys"][name])
            recs[name] = state.read_stage(root, pid, name)
        elif jobs_state in vocab.UNSUCCESSFUL and jobs_state != vocab.CANCELLED:
            why = rec.get("error") or _error_of(sched, rec["jobs"])
            if pipeline.stages[name].kind == "sweep":  # the failed run's own error
                why = sweep_outcome(store, rec.get("outputs") or {})[1] or why
            recs[name] = state.write_stage(root, pid, name, state=jobs_state, end_time=time.time(),
                                           error=why)
        elif jobs_state in (vocab.CANCELLED, vocab.RUNNING):
            recs[name] = {**rec, "state": jobs_state}  # CANCELLED: written below, with why
    _cancel_dependents(store, record, pipeline, recs, sched)
    for name, rec in recs.items():
        if rec.get("state") == vocab.CANCELLED and not rec.get("error"):
            recs[name] = state.write_stage(root, pid, name, state=vocab.CANCELLED,
                                           end_time=time.time(),
                                           error=_error_of(sched, rec.get("jobs") or []))
    return _view(record, recs)


def reason(needs: dict[str, tuple[str, ...]], recs: dict[str, dict[str, Any]],
           name: str) -> str | None:
    """Why ``name`` cannot run: the nearest stage above it that failed (else one cancelled)."""
    above = [a for a in graph.ancestors(needs, name)
             if recs.get(a, {}).get("state") in vocab.UNSUCCESSFUL]
    failed = [a for a in above if recs[a]["state"] != vocab.CANCELLED] or above
    if not failed:
        return None
    first = recs[failed[0]]
    return f"needs {failed[0]}, which {first['state']}" + (
        f": {first['error']}" if first.get("error") else "")


def _cancel_dependents(store: Store, record: dict[str, Any], pipeline: Pipeline,
                       recs: dict[str, dict[str, Any]], sched: dict[str, dict[str, Any]]) -> None:
    """Stages that need a stage which failed: record CANCELLED and why (scancel those that
    Slurm still holds)."""
    needs = {n: s.needs for n, s in pipeline.stages.items()}
    stuck: list[str] = []
    for name in record["order"]:
        rec = recs[name]
        if rec.get("state") == vocab.FINISHED:
            continue
        why = reason(needs, recs, name)
        if why is None or (rec.get("state") == vocab.CANCELLED and rec.get("error")):
            continue
        if rec.get("state") in vocab.ACTIVE or rec.get("state") is None:
            live = [j for j in rec.get("jobs") or []
                    if combine(_job_states([j], sched)) in vocab.ACTIVE]
            stuck += live
        recs[name] = state.write_stage(store.root, record["id"], name, state=vocab.CANCELLED,
                                       error=why, end_time=rec.get("end_time") or time.time())
    if stuck and record["executor"] == "slurm":
        from dii_hpc.slurm import commands

        with contextlib.suppress(SchedulerError):  # already gone: nothing to cancel
            commands.cancel(stuck)


def _view(record: dict[str, Any], recs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    stages = {}
    for name in record["order"]:
        rec = recs[name]
        stages[name] = {"state": rec.get("state") or vocab.PENDING, "jobs": rec.get("jobs") or [],
                        "reused": bool(rec.get("reused")), "error": rec.get("error"),
                        "kind": rec.get("kind"), "runs": rec.get("runs") or [],
                        "outputs": rec.get("outputs") or {}, "dependency": rec.get("dependency"),
                        "reused_from": rec.get("reused_from")}
    return {"id": record["id"], "name": record["name"], "executor": record["executor"],
            "created": record.get("created"), "source": record.get("source"),
            "state": overall([s["state"] for s in stages.values()]), "stages": stages}


def overall(states: list[str]) -> str:
    """A pipeline's state: RUNNING (PENDING) while a stage still moves, then its stages'."""
    if any(s in vocab.ACTIVE for s in states):
        return vocab.PENDING if all(s == vocab.PENDING for s in states) else vocab.RUNNING
    return combine(states)


def cancel(store: Store, pipeline_id: str) -> list[str]:
    """Cancel every stage that has not ended: its cancel is noted (`state.request_cancel`, and
    for the runs it made, `records.request_cancel`) before its jobs are scancelled, so that a
    stage (or run) the signal stops ends CANCELLED, not FAILED. Returns the stages cancelled."""
    from dii_hpc.store import records

    record = state.read_pipeline(store.root, pipeline_id)
    pid = record["id"]
    recs = state.stages(store.root, pid, record["order"])
    open_stages = [n for n, r in recs.items() if r.get("state") not in vocab.TERMINAL]
    if not open_stages:
        return []
    state.request_cancel(store.root, pid, open_stages)
    for name in open_stages:
        for rid in recs[name].get("runs") or []:
            with contextlib.suppress(StoreError, OSError):  # a run that is gone
                if store.run(rid).get("status") in vocab.ACTIVE:
                    records.request_cancel(store.run_dir(rid))
    jobs = [j for n in open_stages for j in recs[n].get("jobs") or []]
    if jobs and record["executor"] == "slurm":
        from dii_hpc.slurm import commands

        commands.cancel(jobs)
    for name in open_stages:
        state.write_stage(store.root, pid, name, state=vocab.CANCELLED,
                          error=state.CANCELLED_WHY, end_time=time.time())
    return open_stages
