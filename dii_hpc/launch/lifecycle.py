"""cancel, resubmit and logs: acting on runs that were launched before.

Each command collects every job it touches and makes ONE scheduler call (scancel with all ids),
never one per run.  Resubmission reuses the original plan, so a task keeps its run id and its
metrics continue without duplicates.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput, NotFound, SchedulerError
from dii_hpc.launch.status import job_map
from dii_hpc.vocabulary import ACTIVE

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

RESUBMITTABLE = frozenset({"FAILED", "PREEMPTED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"})


def select_runs(store: Store, target: str) -> list[dict[str, Any]]:
    """An experiment name -> all its runs; else a run id (or unique prefix) -> that run."""
    if target in store.experiments():
        return store.records(target)
    try:
        return [store.run(target)]
    except NotFound as err:
        raise NotFound("run or experiment", target, store.experiments()) from err


CANCEL_GRACE_S = 30.0  # how long a signalled Slurm run may take to flush and end itself


def cancel(store: Store, target: str, grace_s: float = CANCEL_GRACE_S) -> dict[str, int]:
    """Cancel the active runs of an experiment or one run; PENDING ones end CANCELLED at once.

    A running run is asked to stop the way it handles (tracking.signals): its cancel is noted
    in its folder, then it gets SIGTERM (a local launcher, or every step of its Slurm job:
    ``scancel --signal=TERM``), flushes, and ends itself CANCELLED with every point stored.
    The Slurm jobs are then cancelled for good (one scancel) once their runs have ended, or
    after ``grace_s``; Slurm's own KillWait then applies to whatever still runs. The other
    jobs of a submission whose runs are all cancelled go with them (`_serving_jobs`)."""
    from dii_hpc.slurm import commands
    from dii_hpc.store import records

    runs = [r for r in select_runs(store, target) if r.get("status") in ACTIVE]
    jobs = job_map(store)
    slurm_ids: list[str] = []
    signalled: dict[str, str] = {}
    local, pending = 0, []
    for rec in runs:  # noted before any signal, so that each run ends CANCELLED, not KILLED
        records.request_cancel(store.run_dir(rec["run_id"]))
    if target in store.experiments():  # an adaptive sweep's workers (between trials too)
        from dii_hpc.launch.optimize import workers as adaptive

        slurm_ids, stopped = adaptive.stop(store, target)
        local += stopped
    for rec in runs:
        info = jobs.get(rec["run_id"], {})
        job_id = info.get("job_id") or (rec.get("slurm") or {}).get("job_id")
        if (info.get("executor") or ("slurm" if job_id else "")) == "slurm" and job_id:
            slurm_ids.append(str(job_id))
            if rec.get("status") == "RUNNING":
                signalled[rec["run_id"]] = str(job_id)
        elif "trial" not in (rec.get("tags") or {}) and _kill_local(rec):
            # (a study's trial, tagged from its creation on: its worker was stopped above)
            local += 1
        if rec.get("status") == "PENDING":
            pending.append(rec["run_id"])
    if signalled:
        with contextlib.suppress(SchedulerError):  # a job that ended meanwhile; scancel below
            commands.cancel(sorted(set(signalled.values())), signal="TERM")
        _wait_ended(store, list(signalled), grace_s)
    slurm_ids += _serving_jobs(store, {r["run_id"] for r in runs}, slurm_ids)
    if slurm_ids:
        commands.cancel(slurm_ids)
    for rid in pending:
        store.update_run(rid, status="CANCELLED", end_time=time.time(), error="cancelled by user")
    # A study's worker is named twice (as a worker, and by its trial's run): count jobs once.
    return {"runs": len(runs), "slurm_jobs": len(set(slurm_ids)), "local": local}


def _serving_jobs(store: Store, run_ids: set[str], listed: list[str]) -> list[str]:
    """The Slurm jobs of submissions whose every run is being cancelled that no run is mapped
    to (an audit chain's shard array: its run is the merge job's): they only serve those runs."""
    from dii_hpc.records import jobs

    covered, out = {j.split("_")[0] for j in listed}, []
    for _name, rec in jobs.every(store):
        if rec.executor == "slurm" and rec.runs and set(rec.runs) <= run_ids:
            out += [a for a in rec.arrays if a not in covered]
    return out


def _wait_ended(store: Store, run_ids: list[str], timeout_s: float, poll_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    left = set(run_ids)
    while left and time.monotonic() < deadline:
        left = {rid for rid in left if store.run(rid).get("status") in ACTIVE}
        if left:
            time.sleep(poll_s)


def _kill_local(rec: dict[str, Any]) -> bool:
    launch = rec.get("launch") or {}
    if launch.get("host") != socket.gethostname() or not launch.get("pid"):
        return False
    try:
        os.kill(int(launch["pid"]), signal.SIGTERM)
    except OSError:
        return False
    return True


def resubmit(store: Store, experiment: str, executor: str | None = None) -> dict[str, Any]:
    """Re-run the failed / preempted / timed-out tasks of an experiment under the same run ids:
    tasks of `submit` plans as new arrays, `dii-hpc run` commands as they were launched.

    Returns {"runs": n, "submissions": [...], "commands": [(run id, kind, job id, task)]}: a
    command on the local or debug executor is to be run by the caller (``task()``)."""
    from dii_hpc.launch import runcmd
    from dii_hpc.launch.optimize import workers as adaptive
    from dii_hpc.launch.status import reconcile

    store.check_experiment_exists(experiment)
    reconcile(store, experiment)
    gone = adaptive.missing(store, experiment)  # None: not an adaptive sweep
    if gone is not None:
        subs = [_resubmit_plan(store, gone[0], [], executor, workers=gone[1])] if gone[1] else []
        return {"runs": 0, "workers": len(gone[1]), "submissions": subs}
    jobs = job_map(store)
    by_plan: dict[str, list[tuple[str, int]]] = {}
    commands: list[tuple[str, dict[str, Any]]] = []
    for rec in store.records(experiment):
        info = jobs.get(rec["run_id"], {})
        if rec.get("status") not in RESUBMITTABLE:
            continue
        if info.get("plan_file") and info.get("task") is not None:
            by_plan.setdefault(info["plan_file"], []).append((rec["run_id"], int(info["task"])))
        elif (spec := runcmd.command_spec(store, rec["run_id"])) is not None:
            commands.append((rec["run_id"], spec))
    out = [_resubmit_plan(store, Path(plan_file), tasks, executor) for plan_file, tasks in by_plan.items()]
    started = [_resubmit_command(store, experiment, rid, spec, executor) for rid, spec in commands]
    return {"runs": sum(len(t) for t in by_plan.values()) + len(started), "submissions": out,
            "commands": started}


def retire_attempt(store: Store, rec: dict[str, Any]) -> None:
    """Make an ended run PENDING again; its Slurm record moves to ``slurm_attempts`` so that the
    new attempt's record replaces it (None is replaced, where a dict would be merged into)."""
    from dii_hpc.store import records

    records.clear_cancel(store.run_dir(rec["run_id"]))  # started again: no longer cancelled
    fields: dict[str, Any] = {"status": "PENDING", "end_time": None, "error": None}
    if rec.get("slurm"):
        fields.update(slurm=None, slurm_attempts=[*(rec.get("slurm_attempts") or []), rec["slurm"]])
    store.update_run(rec["run_id"], **fields)


def restore_attempt(store: Store, rec: dict[str, Any]) -> None:
    """Undo `retire_attempt` when the new attempt could not be submitted."""
    store.update_run(rec["run_id"], status=rec.get("status"), end_time=rec.get("end_time"),
                     error=rec.get("error"), slurm=rec.get("slurm"),
                     slurm_attempts=rec.get("slurm_attempts"))


def _resubmit_command(store: Store, experiment: str, rid: str, spec: dict[str, Any],
                      executor: str | None) -> tuple[str, str, str, Any]:
    """A `dii-hpc run` command again, through launch.backend like its first attempt."""
    from dii_hpc.launch import backend, runcmd

    previous = store.run(rid)
    recorded = (job_map(store).get(rid) or {}).get("executor")
    kind, conf = backend.choose(executor or recorded or "auto")
    job = runcmd.command_job(store, experiment, spec, kind, conf)
    retire_attempt(store, previous)
    try:
        return (rid, *runcmd.launch(store, experiment, rid, spec, job))
    except BaseException:
        restore_attempt(store, previous)
        raise


def _resubmit_plan(store: Store, plan_file: Path, tasks: list[tuple[str, int]],
                   executor: str | None, workers: list[int] | None = None) -> dict[str, Any]:
    """Tasks of a plan again under their run ids; or ``workers``: a study's worker rows."""
    from dii_hpc.launch import backend
    from dii_hpc.launch import submit as sub
    from dii_hpc.launch.task import TaskRef, read_plan, task_config
    from dii_hpc.slurm.scontrol import max_array_size

    plan = read_plan(plan_file)
    kind, slurm_conf = backend.choose(executor or plan.get("executor") or "auto")
    tasks = tasks or [("", i) for i in workers or []]
    _, config = task_config(plan, tasks[0][1])
    job = sub.sweep_job(kind, config, store.root, plan_file.parent / "submitit", slurm_conf)
    previous = {rid: store.run(rid) for rid, _ in tasks if rid}
    for rec in previous.values():
        retire_attempt(store, rec)
    ex = backend.executor(job)
    submitted: list[Any] = []
    try:
        max_array = max_array_size(slurm_conf) if slurm_conf else len(tasks)
        job_ids: list[str] = []
        for start in range(0, len(tasks), max_array):
            refs = [TaskRef(str(plan_file), i) for _, i in tasks[start:start + max_array]]
            jobs = backend.submit_array(ex, sub.runner_for([plan["tasks"][i] for _, i in tasks],
                                                           kind), refs)
            submitted += jobs
            job_ids += [str(j.job_id) for j in jobs]
    except BaseException:
        with contextlib.suppress(SchedulerError, OSError):  # the first failure is what to report
            from dii_hpc.slurm import commands

            commands.cancel(sorted({str(j.job_id).split("_")[0] for j in submitted}))
        for rec in previous.values():
            restore_attempt(store, rec)
        raise
    from dii_hpc.store.ids import new_run_id

    res = sub.SubmitResult(new_run_id(), plan["experiment"], kind,
                           [plan["tasks"][i] for _, i in tasks], "",
                           run_ids=list(previous), job_ids=job_ids, plan_file=plan_file)
    res.arrays = sorted({j.split("_")[0] for j in job_ids})
    sub.record_jobs(store, res)
    sub._CURRENT_JOBS[res.submission_id] = submitted
    return {"submission": res.submission_id, "executor": kind, "arrays": res.arrays,
            "runs": res.run_ids}


STREAMS = {"stdout": "out", "stderr": "err"}  # stream -> suffix of a rank's file (rank<k>.out)


def log_files(store: Store, run_id: str, streams: tuple[str, ...] = ("stdout", "stderr"), *,
              follow: bool = False) -> dict[str, Path]:
    """Label -> file of a run's output: its own stdout/stderr (logs/, else the paths its
    launcher recorded), then every rank's of a multi-rank run (``rank 1 stdout``), whose
    output goes to logs/rank<k>.out/.err.  Without ``follow`` only files that exist, less a
    launcher's empty ones beside the ranks' and a stream that is a rank's own file again."""
    rec = store.run(run_id)
    logs = store.run_dir(run_id) / "logs"
    own = {name: _own_log(rec, logs, name) for name in streams}
    world = _world_size(store, rec, logs)
    ranks = {f"rank {k} {name}": logs / f"rank{k}.{STREAMS[name]}"
             for k in range(world if world > 1 else 0) for name in streams}
    if follow:
        return {**own, **ranks}
    ranks = {label: path for label, path in ranks.items() if path.exists()}
    shown = {name: path for name, path in own.items() if path.exists()
             and not (ranks and (_empty(path) or any(_same(path, r) for r in ranks.values())))}
    return {**shown, **ranks}


def _own_log(rec: dict[str, Any], logs: Path, name: str) -> Path:
    candidate = logs / f"{name}.log"
    recorded = (rec.get("launch") or {}).get(name)
    if candidate.exists() or not recorded:
        return candidate
    return Path(recorded)


def _world_size(store: Store, rec: dict[str, Any], logs: Path) -> int:
    """Ranks of the run: as launched, else as its command asked, else as many as left logs."""
    from dii_hpc.launch import runcmd

    launched = (rec.get("launch") or {}).get("world_size")
    if launched:
        return int(launched)
    spec = runcmd.command_spec(store, rec["run_id"]) or {}
    res = spec.get("resources") or {}
    if res:
        return int(res.get("nodes") or 1) * int(res.get("tasks_per_node") or 1)
    return len(list(logs.glob("rank*.out"))) or 1


def _empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return True


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def follow(paths: dict[str, Path], store: Store, run_id: str,
           poll_s: float = 1.0) -> Iterator[tuple[str, str]]:
    """Yield (stream name, new text) of every file in ``paths`` until the run ends (tail -f of
    several files that knows when to stop); files that do not exist yet are waited for."""
    pos = dict.fromkeys(paths, 0)
    while True:
        got = False
        for name, path in paths.items():
            if not path.exists():
                continue
            with open(path, encoding="utf-8", errors="replace") as fh:
                fh.seek(pos[name])
                text = fh.read()
                pos[name] = fh.tell()
            if text:
                got = True
                yield name, text
        if got:
            continue
        if store.run(run_id).get("status") not in ACTIVE:
            return
        time.sleep(poll_s)


def resolve_logs(store: Store, run_id: str,
                 streams: tuple[str, ...] = ("stdout", "stderr")) -> dict[str, Path]:
    paths = log_files(store, run_id, streams)
    if not paths:
        raise BadInput(f"run {run_id} has no logs yet (status {store.run(run_id).get('status')})")
    return paths
