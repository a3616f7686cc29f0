"""The stack of runs open in this process: which one module-level logging goes to.

A plain registry (push, forget, top) that `tracking.run` writes and `tracking.fluent` reads;
it imports neither, so the run module and the module-level API do not import each other.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.tracking.ranks import SilentRun
    from dii_hpc.tracking.run import Run

_stack: list[Run | SilentRun] = []
_lock = threading.Lock()


def _forget_all_in_child() -> None:
    # A forked worker inherits the parent's open runs but not their flush threads; logging
    # into them would be silently lost, so the child starts with no active run.
    _stack.clear()


os.register_at_fork(after_in_child=_forget_all_in_child)


def push(run: Run | SilentRun) -> None:
    with _lock:
        _stack.append(run)


def forget(run: object) -> None:
    with _lock:
        if run in _stack:
            _stack.remove(run)


def top() -> Run | SilentRun | None:
    """The innermost open run of this process, or None."""
    with _lock:
        return _stack[-1] if _stack else None
