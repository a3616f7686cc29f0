"""Read runs and render run pages in forked worker processes.

Reading a run (its record, its metric arrays) and rendering its page are independent and
CPU-bound (JSON, metric decoding, SVG strings, Jinja), so a 100,000-run site builds about N
times faster on N cores. Workers are forked (they inherit the store handle, the Jinja
environment and the run list without pickling) and send back only small results: a run's
entry, the paths they wrote, its encoded curves. Where fork is unavailable, or for a handful of
runs, the same function runs in-process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from typing import Any

MIN_PARALLEL = 40  # below this, starting processes costs more than it saves
CHUNK = 16

_JOB: dict[str, Any] = {}


def default_workers() -> int:
    env = os.environ.get("DII_HPC_REPORT_JOBS")
    if env and env.isdigit():
        return max(1, int(env))
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 8))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, min(os.cpu_count() or 1, 8))


def _child_init() -> None:
    """Forget what a tracked run active in the parent (e.g. the quickstart's) installed.

    Its SIGTERM and preempt-signal handlers flush and end *that* run, and it registers a
    ``threading._register_atexit`` hook that multiprocessing runs when a worker exits
    (``threading._shutdown``): a forked worker would flush the parent's buffered metrics and
    finish its run. Workers only render pages, so both are cleared in the child's copy, and so
    is a progress bar's redirection of stdout/stderr (the parent's display, and its lock).
    A signal the parent ignores stays ignored: a build started as a script's background job
    ignores Ctrl-C, and a worker killed by one would leave the pool waiting for its pages.
    """
    import signal
    import sys
    import threading

    from dii_hpc.slurm.preempt import preempt_signal

    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    for sig in (signal.SIGTERM, preempt_signal(), signal.SIGINT):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)
    hooks = getattr(threading, "_threading_atexits", None)
    if isinstance(hooks, list):
        hooks.clear()


def _work(chunk: list[int]) -> list[Any]:
    fn, items = _JOB["fn"], _JOB["items"]
    return [fn(items[i]) for i in chunk]


def map_runs(fn: Callable[[Any], Any], items: list[Any], workers: int,
             chunk: int = CHUNK) -> Iterator[Any]:
    """Yield ``fn(item)`` for every item (in no particular order), in forked workers when it
    pays off; ``chunk`` items go to a worker at a time."""
    if workers <= 1 or len(items) < MIN_PARALLEL or "fork" not in mp.get_all_start_methods():
        for item in items:
            yield fn(item)
        return
    _JOB.update(fn=fn, items=items)
    chunks = [list(range(i, min(i + chunk, len(items)))) for i in range(0, len(items), chunk)]
    pool = mp.get_context("fork").Pool(min(workers, len(chunks)), initializer=_child_init)
    try:
        for part in pool.imap_unordered(_work, chunks):
            yield from part
        pool.close()  # normal end: let workers exit on their own
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        _JOB.clear()
