"""Reconcile run records with the scheduler: one batched query, never a stale RUNNING.

Which job runs which run comes from jobs/*.json (written at submit, before any task starts),
else from the run's own `slurm.job_id`.  A job that ended is joined into run.json (its sacct
record) and decides the final status; a job the scheduler no longer knows, or a local process
that is gone, ends its run FAILED instead of leaving it RUNNING forever.
"""

from __future__ import annotations

import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from dii_hpc.vocabulary import (
    ACTIVE,
    CANCELLED,
    FAILED,
    KILLED,
    NODE_FAIL,
    OUT_OF_MEMORY,
    SUCCESSFUL,
    TERMINAL,
    UNSUCCESSFUL,
)

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

VANISH_GRACE_S = 120.0  # accounting lags submission; a brand-new job may not be in sacct yet
#: The ends a run records itself that the job's end may explain better (recorded end -> the
#: Slurm states that replace it).  KILLED: a signal reached the run, and the job says whose
#: (TIMEOUT, PREEMPTED, CANCELLED, NODE_FAIL; FAILED when srun stopped the ranks of a failed
#: one).  FAILED: the run's error may come of the job running out of memory or losing its
#: node.  Every other recorded end (FINISHED, PRUNED, CANCELLED, ...) stands.
REFINES: dict[str, frozenset[str]] = {
    KILLED: UNSUCCESSFUL - {KILLED}, FAILED: frozenset({OUT_OF_MEMORY, NODE_FAIL})}


def job_map(store: Store) -> dict[str, dict[str, Any]]:
    """run id -> {job_id, executor, submitted, submission, plan_file} (latest submission wins)."""
    from dii_hpc.records import jobs

    out: dict[str, dict[str, Any]] = {}
    for _name, rec in jobs.every(store):
        for rid, job_id in rec.runs.items():
            out[rid] = {"job_id": job_id, "executor": rec.executor, "submitted": rec.submitted,
                        "plan_file": rec.plan_file, "submission": rec.submission_id,
                        "task": rec.tasks.get(rid)}
    return out


def decide(run_status: str, sched: dict[str, Any] | None, age_s: float,
           cancelled: bool = False) -> tuple[str | None, str | None]:
    """(new status or None to leave it, error text) from the run's and the scheduler's view;
    ``cancelled``: `dii-hpc cancel` asked this run to stop, so a job that ended before its run
    did (its process killed by the cancel) ends the run CANCELLED."""
    new, error = _decide(run_status, sched, age_s)
    if cancelled and run_status in ACTIVE and new in TERMINAL:
        from dii_hpc.tracking.ending import CANCELLED_BY_USER

        return CANCELLED, CANCELLED_BY_USER
    return new, error


def _decide(run_status: str, sched: dict[str, Any] | None,
            age_s: float) -> tuple[str | None, str | None]:
    if sched is None:
        if run_status in ACTIVE and age_s > VANISH_GRACE_S:
            return "FAILED", "the scheduler no longer knows this job and the run never finished"
        return None, None
    state = sched.get("state", "")
    if run_status == CANCELLED:
        return None, None  # the run ended itself after `dii-hpc cancel`, whatever its exit code
    if state not in TERMINAL:
        if run_status in TERMINAL and state == "PENDING" and sched.get("requeue_count", 0):
            return "PENDING", None  # requeued after its checkpoint: it will resume
        return None, None
    if state == "FINISHED":
        if run_status in ACTIVE:
            return "FAILED", "the job ended but the run never finished (process died?)"
        return run_status, None
    if run_status in TERMINAL and state not in REFINES.get(run_status, frozenset()):
        return run_status, None  # the run recorded its own end: a later end of the job (a
        # worker job cancelled after its trial ended) says nothing about this run
    return state, f"Slurm: {sched.get('slurm_state') or state}"


def _local_dead(record: dict[str, Any]) -> str | None:
    """'writer process PID on HOST is gone' when the run's local launcher died."""
    launch = record.get("launch") or {}
    pid, host = launch.get("pid"), launch.get("host")
    if not pid or host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return f"writer process {pid} on {host} is gone"
    except OSError:
        return None
    return None


def _writer_dead(record: dict[str, Any]) -> str | None:
    """Why a run that is not a Slurm job is dead: its launcher or its own writer is gone."""
    from dii_hpc.store.records import writer_gone

    gone = _local_dead(record) or writer_gone(record)
    return f"the run never finished: {gone}" if gone else None


def reconcile(store: Store, experiment: str | None = None, use_sacct: bool = True) -> list[dict[str, Any]]:
    """Update run records from the scheduler; return one display row per run."""
    from dii_hpc.slurm import commands

    records = store.records(experiment)
    jobs = job_map(store)
    wanted: dict[str, str] = {}
    for rec in records:
        info = jobs.get(rec["run_id"], {})
        job_id = info.get("job_id") or (rec.get("slurm") or {}).get("job_id")
        executor = info.get("executor") or ("slurm" if job_id else None)
        joined = "state" in (rec.get("slurm") or {})
        # A study worker's job runs many trials: its end decides only a trial still active.
        shared = "worker" in (rec.get("slurm") or {})
        if executor == "slurm" and job_id and (rec.get("status") in ACTIVE or (not shared and (
                not joined or rec.get("status") == "KILLED"))):
            wanted[rec["run_id"]] = str(job_id)
    sched = commands.query_jobs(list(wanted.values()), use_sacct=use_sacct) if wanted else {}
    now, rows = time.time(), []

    def apply(rec: dict[str, Any]) -> tuple[str, str]:
        age = now - jobs.get(rec["run_id"], {}).get("submitted", rec.get("created_time") or now)
        return rec["run_id"], _apply(store, rec, sched.get(wanted[rec["run_id"]]), age)

    # Each run.json is its own file: joining a thousand ended jobs overlaps their fsyncs.
    targets = [rec for rec in records if rec["run_id"] in wanted]
    with ThreadPoolExecutor(max_workers=16 if len(targets) > 16 else 1) as pool:
        applied = dict(pool.map(apply, targets))
    for rec in records:
        rid = rec["run_id"]
        status = rec.get("status", "")
        if rid in applied:
            status = applied[rid]
            if status in TERMINAL and status != "FINISHED" and not rec.get("error"):
                rec = {**rec, "error": store.run(rid).get("error")}  # what _apply just wrote
        elif status == "RUNNING" and (why := _writer_dead(rec)):
            status = "FAILED"
            store.update_run(rid, status=status, end_time=now, error=why)
            rec = {**rec, "error": why}  # the row says why, as the record now does
        rows.append(_row(rec, status, jobs.get(rid, {}), sched.get(wanted.get(rid, ""))))
    return rows


def _apply(store: Store, rec: dict[str, Any], sched: dict[str, Any] | None, age: float) -> str:
    from dii_hpc.store.records import cancel_requested

    new, error = decide(rec.get("status", ""), sched, age)
    cancelled = False
    if new is not None and new != rec.get("status"):
        # The record was read before the scheduler answered: the task may have ended since.
        rec = store.run(rec["run_id"])
        cancelled = cancel_requested(store.run_dir(rec["run_id"]))
        new, error = decide(rec.get("status", ""), sched, age, cancelled)
    terminal = sched is not None and sched.get("state") in TERMINAL
    fields: dict[str, Any] = {}
    if terminal:
        fields["slurm"] = sched
    if new is not None and new != rec.get("status"):
        fields["status"] = new
        if new in TERMINAL:
            fields["end_time"] = rec.get("end_time") or (sched or {}).get("end_time") or time.time()
            fields["error"] = (error if cancelled else None) or rec.get("error") or \
                _rank_error(store, rec) or error
        else:
            fields.update(end_time=None, error=None)
    if fields:
        store.update_run(rec["run_id"], **fields)
    if new is None and sched is not None and sched.get("state") in ACTIVE:
        live: str = sched["state"]  # live view (the running task owns its record)
        return live
    return new or rec.get("status", "")


def _rank_error(store: Store, rec: dict[str, Any]) -> str | None:
    """The failed rank's last error line, when a multi-rank job was killed because of it."""
    if int((rec.get("launch") or {}).get("world_size") or 1) <= 1:
        return None
    from dii_hpc.tracking import ranks

    return ranks.failure(store.run_dir(rec["run_id"]))


def _row(rec: dict[str, Any], status: str, info: dict[str, Any],
         sched: dict[str, Any] | None) -> dict[str, Any]:
    slurm = {**(rec.get("slurm") or {}), **(sched or {})}
    return {"run_id": rec["run_id"], "experiment": rec.get("experiment"), "status": status,
            "job_id": info.get("job_id") or slurm.get("job_id") or "",
            "executor": info.get("executor") or (rec.get("launch") or {}).get("executor") or "",
            "elapsed_s": slurm.get("elapsed_s"), "max_rss_mb": slurm.get("max_rss_mb"),
            "requeues": slurm.get("requeue_count"), "error": rec.get("error") or ""}


def attention(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows worth a look: runs that are neither still going nor finished."""
    settled = ACTIVE | SUCCESSFUL
    return [r for r in rows if r["status"] not in settled]


def wait_ended(store: Store, experiment: str, run_ids: list[str], *, poll: bool = True,
               poll_s: float = 5.0, join_s: float = 120.0) -> list[dict[str, Any]]:
    """The rows of ``run_ids`` once every one has ended; ``poll``: ask the scheduler (one
    sacct per round) until then, else they have ended already (local and debug runs)."""
    from dii_hpc import progress

    wanted = set(run_ids)
    if not poll:
        return [r for r in reconcile(store, experiment) if r["run_id"] in wanted]
    ended_at = None
    with progress.bar(f"{experiment}: tasks ended", len(wanted)) as bar:
        while True:
            rows = [r for r in reconcile(store, experiment) if r["run_id"] in wanted]
            bar.update(completed=sum(r["status"] not in ACTIVE for r in rows))
            if not any(r["status"] in ACTIVE for r in rows):
                # A task marks its run FINISHED a moment before Slurm ends the job; wait
                # (bounded) for the accounting record so that the rows carry sacct fields.
                ended_at = ended_at or time.time()
                joined = all("state" in (store.run(r["run_id"]).get("slurm") or {}) for r in rows)
                if joined or time.time() - ended_at > join_s:
                    return rows
            time.sleep(poll_s)


def check_outcome(rows: list[dict[str, Any]]) -> None:
    """InfraError (exit 3) naming the first task that did not finish, if any (a pruned
    trial did what it was told)."""
    bad = [r for r in rows if r["status"] not in SUCCESSFUL]
    if bad:
        from dii_hpc.errors import InfraError

        first = bad[0]
        raise InfraError(f"{len(bad)} of {len(rows)} task(s) did not finish: run {first['run_id']} "
                         f"{first['status']}{': ' + first['error'] if first['error'] else ''}")
