"""Workers forked from this process: an array of local tasks that pays no start.

A fresh task process pays Python and the imports (torch, scikit-learn, dii-hpc: about 3 s
on a core of the test machine) and rebuilds the model and data before its first shard;
sixteen reference models of the benchmark MLP take 3.4 s one after another, so a fresh
array cannot pay off for them. A worker forked from the submitting process starts with
everything already imported and built (copy-on-write), in milliseconds.

What the array of fresh processes guarantees holds here too: each shard is kept in the
store as it ends (the task body writes it), a worker that dies leaves its finished shards
and the first failure stops the others (SchedulerError naming it), so a rerun trains only
the rest; the submission is recorded in `<store>/jobs/` like any array (`arrays.record`,
the workers' pids as its tasks) and `dii-hpc cancel` of the audit run stops the workers.

Where forking is unsafe (`unsafe`: CUDA initialised here, a platform without fork) the
caller falls back to fresh processes or this process and says so; a user whose model code
is not fork-safe sets DII_HPC_PLACEMENT=array (`packing.choose`). Each worker runs one torch / OpenMP thread: GNU OpenMP is not
fork-safe, and a child that uses several OpenMP threads after the parent's pool started
hangs (tested: `tests/audit/test_reference_forked.py`); the workers are as many as the free
cores, so workers x threads never exceeds them.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dii_hpc.errors import SchedulerError
from dii_hpc.launch import waiting

POLL_S = 0.25  # longest wait for a worker before looking at the audit run's cancel request


def unsafe() -> str | None:
    """Why this process must not fork workers (None: it may)."""
    if not hasattr(os, "fork"):
        return "this platform has no fork"
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return "CUDA is initialised in this process (a forked child cannot use it)"
    return None


@dataclass(frozen=True)
class Task:
    """A forked worker, as `arrays.record` sees a job (its pid is its id)."""

    job_id: str


def _one_thread() -> None:
    """One thread for every thread pool the worker may use (see the module docstring)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def _child(conn: Any, task: Callable[..., Any], args: tuple[Any, ...],
           die: Callable[[], None] | None) -> None:
    """A worker's body: the stop signals back to their default (the parent's handlers
    belong to its run), Slurm's USR1/USR2 warnings ignored, SIGTERM when the parent dies (``die``: `runcmd.die_with_parent`),
    one thread, the task; its result or its error line to the parent."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    for sig in (signal.SIGUSR1, signal.SIGUSR2):  # Slurm's warning to a job step: the task's
        signal.signal(sig, signal.SIG_IGN)  # own handler (submitit's requeue) acts on it
    if die is not None:
        die()
    ready = time.time()
    try:
        _one_thread()
        result = task(*args)
        conn.send(("ok", {"ready": ready, "result": result, "ended": time.time()}))
    except BaseException as err:  # noqa: BLE001 - reported by the parent, as a task's failure
        conn.send(("error", f"{type(err).__name__}: {err}"))
        conn.close()
        sys.exit(1)
    conn.close()


def _ended(proc: Any) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited {code} without a result"


def run(task: Callable[..., Any], args: list[tuple[Any, ...]], labels: list[str], what: str,
        run_: Any = None, on_start: Callable[[list[Task]], None] | None = None
        ) -> list[dict[str, Any]]:
    """``task(*a)`` for every ``a`` of ``args`` in a worker forked from this process, all
    at once; every worker's ``{"ready": wall time it started, "result": ..., "ended": wall
    time}`` in order.
    ``on_start`` gets the workers once they run (their record); ``run_``: the audit run
    whose cancel request stops them. The first worker that fails or dies stops the others
    and raises SchedulerError naming its label."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    from dii_hpc import progress
    from dii_hpc.launch.runcmd import die_with_parent

    ctx = mp.get_context("fork")
    die = die_with_parent()
    procs, conns = [], []
    for a in args:
        recv, send = ctx.Pipe(duplex=False)
        # not daemonic: a model's own fit may start processes (a DataLoader's workers)
        p = ctx.Process(target=_child, args=(send, task, a, die))
        p.start()
        send.close()
        procs.append(p)
        conns.append(recv)
    if on_start is not None:
        on_start([Task(str(p.pid)) for p in procs])
    results: dict[int, dict[str, Any]] = {}
    try:
        with progress.bar(f"{what}: forked workers", len(procs)) as bar:
            while len(results) < len(procs):
                waiting.stop_if_cancelled(run_, f"{what} workers were stopped")
                live = [i for i in range(len(procs)) if i not in results]
                wait([procs[i].sentinel for i in live] + [conns[i] for i in live], POLL_S)
                for i in live:
                    got = _collect(procs[i], conns[i])
                    if got is None:
                        continue
                    state, value = got
                    if state != "ok":
                        raise SchedulerError(f"{what} worker {procs[i].pid} ({labels[i]}) "
                                             f"failed: {value}")
                    results[i] = value
                    bar.advance()
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join()
        for c in conns:
            c.close()
    return [results[i] for i in range(len(procs))]


def _collect(proc: Any, conn: Any) -> tuple[str, Any] | None:
    """A worker's ("ok", result) or ("error", line) once it sent it, or the way it died;
    None while it is still at work."""
    if conn.poll():
        try:
            out: tuple[str, Any] = conn.recv()
            return out
        except EOFError:  # died while sending: as dead as silent
            pass
    elif proc.is_alive():
        return None
    proc.join()
    return "error", _ended(proc)
