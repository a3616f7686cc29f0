"""Waiting for a submitted array, and cancelling it: what every caller that holds a process
open while its tasks run needs (an audit's shard and reference-model arrays, a drift sketch
check's profile array and merge job).

A process that waits for an array (`wait`) cancels it when it stops waiting for any other
reason than the array's end: a failed task (reported by its exception's line, read from the
result submitit pickled), Ctrl-C, SIGTERM, or `dii-hpc cancel` of the run it holds open. The
pause between two looks grows, but stays under a tenth of the wait so far, so a short array is
seen ending on time and a long one costs the filesystem little.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from dii_hpc import progress
from dii_hpc.errors import InfraError, SchedulerError

POLL_S = (0.5, 5.0)  # first and longest pause between two looks at the tasks
POLL_SHARE = 0.1  # a pause at most this share of the wait so far: a short array ends on time
LOCAL_POLL_S = 0.25  # local processes: a look is a file test, and a short array's end matters


@contextlib.contextmanager
def cancelling(jobs: list[Any]) -> Iterator[None]:
    """Cancel ``jobs`` (those still queued or running) when the block is left by an
    exception: a failed task, Ctrl-C, SIGTERM's SystemExit, a cancel, an error of the wait."""
    try:
        yield
    except BaseException:
        cancel(jobs)
        raise


def stop_if_cancelled(run: Any, what_stops: str) -> None:
    """`dii-hpc cancel` of the run this process holds open (from any host: a note in the
    store) ends its wait: InfraError saying so; the waiter stops its tasks on the way out."""
    if run is not None and run.cancel_requested():
        raise InfraError(f"run {run.id} cancelled (dii-hpc cancel); its {what_stops}")


def failure(job: Any) -> str:
    """A failed task in one line: its exception's (from the result submitit pickled, the
    traceback of the task's own error), else the state it ended in without a result."""
    from submitit.core import utils

    path = job.paths.result_pickle
    if path.exists():
        try:
            outcome, trace = utils.pickle_load(path)
        except Exception:  # noqa: BLE001 - a torn pickle says no more than a missing one
            outcome, trace = "error", ""
        if outcome == "error" and str(trace).strip():
            return exception_line(str(trace))
    try:
        state = job.state
    except Exception:  # noqa: BLE001 - the scheduler's view is a nicety here
        state = "UNKNOWN"
    return f"ended {state} without a result"


def exception_line(trace: str) -> str:
    """``ValueError: boom`` from a formatted traceback (the last exception of a chain), its
    class without the module path."""
    block = trace.split("Traceback (most recent call last):")[-1]
    lines = [ln for ln in block.splitlines() if ln.strip() and not ln[0].isspace()]
    line = lines[0] if lines else trace.strip().splitlines()[-1]
    head, sep, rest = line.partition(":")
    if sep and " " not in head:
        return f"{head.rsplit('.', 1)[-1]}:{rest}"
    return line


def cancel(jobs: list[Any]) -> None:
    """Cancel the tasks still pending or running: one scancel for the Slurm arrays, the
    local executor's processes one by one."""
    import submitit

    live = [j for j in jobs if not _done(j)]
    on_slurm = [j for j in live if isinstance(j, submitit.SlurmJob)]
    if on_slurm:
        from dii_hpc.slurm import commands

        with contextlib.suppress(SchedulerError):  # ended meanwhile
            commands.cancel(sorted({str(j.job_id).split("_")[0] for j in on_slurm}))
    for j in live:
        if not isinstance(j, submitit.SlurmJob):
            with contextlib.suppress(Exception):  # a process that ended meanwhile
                j.cancel(check=False)


def _done(job: Any) -> bool:
    try:
        return bool(job.done())
    except Exception:  # noqa: BLE001 - a job the scheduler forgot has ended
        return True


def wait(jobs: list[Any], labels: list[str], what: str, run: Any = None) -> list[Any]:
    """Every task's result, in order. The first failed task cancels the others and raises
    SchedulerError naming it, its shard and its exception; ``run`` (the run this process
    holds open, e.g. an audit's) cancelled by `dii-hpc cancel`, or any interruption here, cancels
    every task."""
    import submitit

    results: dict[int, Any] = {}
    slurm = any(isinstance(j, submitit.SlurmJob) for j in jobs)
    first, longest = POLL_S if slurm else (LOCAL_POLL_S, LOCAL_POLL_S)
    pause, t0 = first, time.monotonic()
    with cancelling(jobs), progress.bar(f"{what}: array tasks", len(jobs)) as bar:
        while len(results) < len(jobs):
            stop_if_cancelled(run, f"{what} array was cancelled")
            for i, j in enumerate(jobs):
                if i in results or not _done(j):
                    continue
                if j.exception() is not None:
                    raise SchedulerError(f"{what} array task {j.job_id} ({labels[i]}) "
                                         f"failed: {failure(j)}")
                results[i] = j.result()
                bar.advance()
                pause = first
            if len(results) < len(jobs):
                time.sleep(pause)
                # a look is a file test per task (submitit rate-limits sacct itself)
                pause = min(pause * 1.5, longest,
                            max(first, POLL_SHARE * (time.monotonic() - t0)))
    return [results[i] for i in range(len(jobs))]
