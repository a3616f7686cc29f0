"""Flush on SIGTERM/SIGUSR2 and end runs KILLED on SIGTERM, chaining whoever came before.

Slurm sends SIGTERM (and, with --signal, SIGUSR2) before it kills or requeues a job; submitit
installs its own handlers for checkpoint/requeue. We flush first, then hand the signal on: to
the previous Python handler when there is one (it decides), else we end the run as KILLED.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from typing import Any

_installed: dict[int, Any] = {}
_flushers: list[Callable[[], None]] = []


def _flush_all() -> None:
    for fn in list(_flushers):
        with contextlib.suppress(Exception):  # in a signal handler: never raise into the user's loop
            fn()


def _on_sigusr2(signum: int, frame: Any) -> None:
    _flush_all()
    prev = _installed.get(signum)
    if callable(prev):
        prev(signum, frame)


def _on_sigterm(signum: int, frame: Any) -> None:
    _flush_all()
    prev = _installed.get(signum)
    if callable(prev):
        prev(signum, frame)
        return
    raise SystemExit(128 + signum)


def register(flush: Callable[[], None]) -> None:
    """Flush ``flush`` on the signals; install handlers once, only from the main thread."""
    _flushers.append(flush)
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    for sig, handler in ((signal.SIGTERM, _on_sigterm), (signal.SIGUSR2, _on_sigusr2)):
        _installed[sig] = signal.getsignal(sig)
        signal.signal(sig, handler)


def unregister(flush: Callable[[], None]) -> None:
    with contextlib.suppress(ValueError):
        _flushers.remove(flush)
    if _flushers or not _installed:
        return
    if threading.current_thread() is threading.main_thread():
        for sig, prev in _installed.items():
            if signal.getsignal(sig) in (_on_sigterm, _on_sigusr2):
                signal.signal(sig, prev if prev is not None else signal.SIG_DFL)
        _installed.clear()
