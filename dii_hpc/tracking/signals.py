"""Flush on SIGTERM and the preempt signal; end runs KILLED on SIGTERM; chain whoever came before.

Slurm sends SIGTERM (and, with --signal, the preempt signal: USR2 unless
``$SUBMITIT_PREEMPT_SIGNAL`` says otherwise, see `dii_hpc.slurm.preempt`) before it kills or
requeues a job; submitit installs its own handlers for checkpoint/requeue. We flush first, then hand the signal on: to
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


def _on_preempt(signum: int, frame: Any) -> None:
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
    from dii_hpc.slurm.preempt import preempt_signal

    preempt = preempt_signal()  # a bad $SUBMITIT_PREEMPT_SIGNAL is refused before any change
    _flushers.append(flush)
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    # preempt first: when it is TERM itself, SIGTERM's own handler is the one that stays
    for sig, handler in ((preempt, _on_preempt), (signal.SIGTERM, _on_sigterm)):
        _installed.setdefault(sig, signal.getsignal(sig))
        signal.signal(sig, handler)


def unregister(flush: Callable[[], None]) -> None:
    with contextlib.suppress(ValueError):
        _flushers.remove(flush)
    if _flushers or not _installed:
        return
    if threading.current_thread() is threading.main_thread():
        for sig, prev in _installed.items():
            if signal.getsignal(sig) in (_on_sigterm, _on_preempt):
                signal.signal(sig, prev if prev is not None else signal.SIG_DFL)
        _installed.clear()
