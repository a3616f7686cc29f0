"""Running the pending shards: in this process (debug), as local processes, or as ONE Slurm array.

Executor choice, sbatch parameters and the executor itself come from launch.backend (`dii-hpc
submit` semantics: auto = Slurm when it answers), so a predict job asks Slurm for resources
exactly as a sweep does.  A shard is one process: in a multi-rank shard job rank 0 computes it.
The process that waits for the shards holds the prediction run open; when it stops waiting for
any reason but their end (Ctrl-C, SIGTERM, an error, or `dii-hpc cancel` of the run, seen in
the store from any host) it cancels the tasks still queued or running (`launch.waiting.cancel`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc import progress
from dii_hpc.errors import SchedulerError
from dii_hpc.inference import output
from dii_hpc.inference.shard import run_shard
from dii_hpc.launch import waiting

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.launch.backend import Job


@dataclass
class Outcome:
    """What came back: per-shard stats, per-shard error lines, the Slurm array id."""

    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    array: str | None = None
    job_ids: dict[int, str] = field(default_factory=dict)


def _one_line(err: BaseException) -> str:
    """The most telling line of a failure (submitit wraps the worker's traceback)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.split(":")[0].endswith(("Error", "Exception", "BadInput", "Interrupt")):
            return ln[:300]
    return (lines[0] if lines else type(err).__name__)[:300]


def run_debug(out: Path, pending: list[int], bar: progress.Bar | None = None) -> Outcome:
    """Shards one after another in this process (the single-process reference run)."""
    res = Outcome()
    bar = bar or progress.Bar()
    for i in pending:
        try:
            res.results[i] = run_shard(str(out), i)
        except Exception as err:  # noqa: BLE001 - a failed shard is reported, others go on
            res.errors[i] = f"{type(err).__name__}: {err}".splitlines()[0]
        bar.advance()
    return res


def _collect(out: Path, jobs: list[Any], pending: list[int], res: Outcome,
             gone: frozenset[str] = frozenset()) -> Outcome:
    """Each shard's result: its done marker when on disk (the task may still be exiting),
    else the job's own result or error; ``gone`` tasks left the queue unfinished."""
    for i, job in zip(pending, jobs, strict=True):
        res.job_ids[i] = str(job.job_id)
        marker = output.done(out, i)
        if marker is not None:
            res.results[i] = {**marker, "skipped": False}
            continue
        if str(job.job_id) in gone and not job.done():
            res.errors[i] = (f"array task {job.job_id} left the queue without finishing "
                             "(cancelled before it started?)")
            continue
        try:
            res.results[i] = job.result()
        except Exception as err:  # noqa: BLE001 - FailedJobError, UncompletedJobError...
            res.errors[i] = _one_line(err)
    return res


def _wait_done(out: Path, jobs: list[Any], shards: list[int], first_s: float = 0.05,
               max_s: float = 0.25, bar: progress.Bar | None = None, before: int = 0,
               run: Any = None) -> None:
    """Wait until each local job has exited or written its shard's done marker.

    submitit's own ``result()`` sleeps a whole second between checks and waits for the
    process to exit (interpreter shutdown with torch loaded takes ~1 s here): on a shard of
    a few seconds that ate most of a 2-task speed-up. The marker is written after the data.
    """
    delay = first_s
    pairs = list(zip(jobs, shards, strict=True))
    bar = bar or progress.Bar()
    while True:
        ended = sum(job.done() or output.done(out, i) is not None for job, i in pairs)
        bar.update(completed=before + ended)
        if ended == len(pairs):
            return
        waiting.stop_if_cancelled(run, "prediction tasks were cancelled")
        time.sleep(delay)
        delay = min(max_s, delay * 1.5)


def run_local(out: Path, pending: list[int], job: Job, parallel: int,
              bar: progress.Bar | None = None, run: Any = None) -> Outcome:
    """Local processes, ``parallel`` at a time (a laptop's "array")."""
    from dii_hpc.launch import backend

    ex = backend.executor(job)
    res = Outcome()
    for a in range(0, len(pending), parallel):
        chunk = pending[a:a + parallel]
        jobs = backend.submit_array(ex, backend.RankZero(run_shard), [str(out)] * len(chunk), chunk,
                                    what="prediction array")
        with waiting.cancelling(jobs):
            _wait_done(out, jobs, chunk, bar=bar, before=a, run=run)
        _collect(out, jobs, chunk, res)
    return res


def run_slurm(out: Path, pending: list[int], job: Job, bar: progress.Bar | None = None,
              run: Any = None, on_array: Callable[[str], None] | None = None) -> Outcome:
    """One sbatch array for every pending shard (``on_array`` gets its id at once); waits for
    it, cancels it when the wait stops otherwise (see the module doc)."""
    from dii_hpc.launch import backend

    ex = backend.executor(job)
    jobs = backend.submit_array(ex, backend.RankZero(run_shard), [str(out)] * len(pending), pending,
                                what="prediction array")
    res = Outcome(array=str(jobs[0].job_id).split("_")[0] if jobs else None)
    with waiting.cancelling(jobs):
        if on_array is not None and res.array:
            on_array(res.array)
        gone = _wait_slurm(out, jobs, pending, res.array or "", bar=bar, run=run)
    return _collect(out, jobs, pending, res, frozenset(gone))


def _queued(array: str) -> set[str] | None:
    """Array task ids Slurm still holds (pending or running); None when squeue fails."""
    from dii_hpc.slurm import commands

    try:
        return set(commands.run(["squeue", "-h", "-r", "-j", array, "-o", "%i"]).split())
    except SchedulerError:
        return None


def _wait_slurm(out: Path, jobs: list[Any], shards: list[int], array: str, poll_s: float = 2.0,
                grace: int = 3, check_s: float = 0.25, bar: progress.Bar | None = None,
                run: Any = None) -> set[str]:
    """Wait until every task is done; returns tasks that vanished from the queue unfinished.

    Done = the shard's marker is on disk (looked at every ``check_s`` while few shards are
    left) or submitit sees the task finished; the queue is asked once per ``poll_s``. A task
    cancelled while still pending gets no accounting record, so submitit would wait for it
    forever; a task absent from squeue for ``grace`` polls is taken as gone.
    """
    remaining = {str(j.job_id): (j, i) for j, i in zip(jobs, shards, strict=True)}
    absent: dict[str, int] = {}
    gone: set[str] = set()
    last_poll = 0.0
    while remaining:
        polling = time.monotonic() - last_poll >= poll_s
        if polling or len(remaining) <= 64:
            for jid, (_job, i) in list(remaining.items()):
                if output.done(out, i) is not None:
                    del remaining[jid]
        if polling and remaining:
            waiting.stop_if_cancelled(run, "prediction tasks were cancelled")
            last_poll = time.monotonic()
            queued = _queued(array)
            for jid, (job, _i) in list(remaining.items()):
                if job.done():
                    del remaining[jid]
                elif queued is not None and jid not in queued:
                    absent[jid] = absent.get(jid, 0) + 1
                    if absent[jid] >= grace:
                        gone.add(jid)
                        del remaining[jid]
        if bar is not None:
            bar.update(completed=len(shards) - len(remaining))
        if remaining:
            time.sleep(check_s)
    return gone


def run(out: Path, pending: list[int], job: Job, run: Any = None,
        on_array: Callable[[str], None] | None = None) -> Outcome:
    """Dispatch a backend Job (debug | local | slurm) over the pending shards; ``run``: the
    prediction run this process holds open (its cancel stops the tasks); ``on_array``: told
    the Slurm array's id once it is queued."""
    if not pending:
        return Outcome()
    with progress.bar("predict: shards", len(pending)) as bar:
        if job.kind == "debug":
            return run_debug(out, pending, bar)
        if job.kind == "local":
            parallel = job.resources.array_parallelism or os.cpu_count() or 1
            return run_local(out, pending, job, parallel, bar, run)
        return run_slurm(out, pending, job, bar, run, on_array)
