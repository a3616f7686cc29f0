"""Exit hooks of open runs: a run still open when the interpreter exits is ended (and its
buffer flushed) while zarr's thread pools still accept work."""

from __future__ import annotations

import atexit
import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.tracking.ranks import SilentRun
    from dii_hpc.tracking.run import Run


def on_exit(fn: Any) -> None:
    """Run ``fn`` at interpreter exit while thread pools still accept work.

    zarr writes through asyncio + a thread pool, and plain ``atexit`` callbacks run after
    those pools refused new work; threading's exit hooks run before them (last registered
    first), so a flush there still reaches the disk.
    """
    import zarr  # noqa: F401 - import now: importing during shutdown is refused

    register = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - CPython < 3.9 or another implementation
        atexit.register(fn)
    else:
        register(fn)


def finish_at_exit(run: Run | SilentRun, status: str = "FINISHED") -> None:
    """End ``run`` with ``status`` at exit if it is still open, before its own exit hook
    (which would call it FAILED): MLflow's habit, kept by dii_hpc.mlflow and by integrations
    that reopen a run after training ended (``trainer.evaluate`` / ``trainer.test``)."""
    ref = weakref.ref(run)

    def end() -> None:
        if (r := ref()) is not None and not r.finished:
            r.finish(status)

    on_exit(end)
