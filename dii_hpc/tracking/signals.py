"""Stop and preempt signals reaching a process with open runs: flush, never hang, lose nothing.

SIGTERM (Slurm's stop, ``kill``, ``dii-hpc cancel``) flushes every open run, then hands the
signal on: to the previous Python handler when there is one (submitit's: it decides), else it
ends the process (SystemExit 128+15), which ends the runs KILLED (CANCELLED when ``dii-hpc
cancel`` asked for it: then submitit's handler, which would ignore SIGTERM, is skipped).
SIGINT (Ctrl-C) raises KeyboardInterrupt as Python's own handler does.  The preempt signal
(USR2 unless ``$SUBMITIT_PREEMPT_SIGNAL`` says otherwise, see `dii_hpc.slurm.preempt`) only
flushes and chains.

Why the care: the run's flush lock is not re-entrant and a handler runs on the main thread
between two bytecodes, possibly inside a flush.  So:

- a stop signal that arrives while the main thread flushes (a flush of its own, or the one a
  handler started) is noted and acted on once that flush has returned: no re-entrant flush,
  no KeyboardInterrupt half-way through writing the buffer;
- while a run ends (its final flush, `ending`), further stop signals are absorbed; the
  first SIGTERM of a process whose run was ending by itself is acted on once that end is
  written (an Optuna worker between two trials must stop, not begin another);
- a copy of the signal just acted on (within ``DUPLICATE_S``) is absorbed: a group's signal
  reaches a `dii-hpc run` child twice, directly and forwarded by the launcher.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

DUPLICATE_S = 1.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Flushable(Protocol):
    """What a registered run offers the handlers."""

    def flush(self) -> None: ...

    def cancel_requested(self) -> bool: ...


_installed: dict[int, Any] = {}
_runs: list[Flushable] = []
_state: dict[str, Any] = {"depth": 0, "ending": 0, "pending": None, "received": None,
                          "acted": (None, 0.0), "stops": 0}


def received() -> int | None:
    """The first stop signal this process received (what a KILLED run's error names)."""
    first: int | None = _state["received"]
    return first


def stops() -> int:
    """How many stop signals reached the handlers: a wait (a run's end waiting for its store)
    gives up when this changes, even while the signal itself is absorbed."""
    count: int = _state["stops"]
    return count


def describe(default: str) -> str:
    """The end text of a run stopped by a signal: 'received SIGTERM', else ``default``."""
    sig = received()
    return f"received {signal.Signals(sig).name}" if sig is not None else default


def _main() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def flushing() -> Iterator[None]:
    """Around a flush: stop signals that arrive meanwhile wait for it to return."""
    if not _main():
        yield
        return
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
    sig = _state["pending"]
    if sig is not None and not _state["depth"] and not _state["ending"]:
        _state["pending"] = None
        _act(sig, None)  # after a flush that succeeded: now the signal's own action


@contextlib.contextmanager
def ending() -> Iterator[None]:
    """Around a run's end (its final flush and status): stop signals are absorbed."""
    if not _main():
        yield
        return
    _state["ending"] += 1
    try:
        yield
    finally:
        _state["ending"] -= 1
        if not _state["ending"]:
            sig, _state["pending"] = _state["pending"], None
            if sig is not None and not _state["depth"]:
                _act(sig, None)  # a SIGTERM that came while a run ended normally: stop now


def _flush_all() -> None:
    _state["depth"] += 1  # a signal arriving during these flushes waits (see `flushing`)
    try:
        for run in list(_runs):
            with contextlib.suppress(Exception):  # in a signal handler: never raise into the user's loop
                run.flush()
    finally:
        _state["depth"] -= 1


def _on_preempt(signum: int, frame: Any) -> None:
    if not _state["depth"]:
        _flush_all()
    prev = _installed.get(signum)
    if callable(prev):
        prev(signum, frame)


def _on_stop(signum: int, frame: Any) -> None:
    _state["stops"] += 1
    if _state["received"] is None:
        _state["received"] = signum
    last, when = _state["acted"]
    if last == signum and time.monotonic() - when < DUPLICATE_S:
        return
    if _state["ending"]:
        # Absorbed, unless it is a SIGTERM and none was acted on yet: then the process was
        # asked to stop while a run ended by itself, and it stops once that end is written.
        if signum == signal.SIGTERM and last is None:
            _state["pending"] = _state["pending"] or signum
        return
    if _state["depth"]:
        _state["pending"] = _state["pending"] or signum
        return
    _act(signum, frame)


def _act(signum: int, frame: Any) -> None:
    _state["acted"] = (signum, time.monotonic())
    prev = _installed.get(signum)
    if signum == signal.SIGTERM:
        _flush_all()
        _state["pending"] = None  # a copy that arrived during the flush: this is its action
        if callable(prev) and not any(_cancelled(run) for run in list(_runs)):
            prev(signum, frame)
            return
        raise SystemExit(128 + signum)
    if callable(prev) and prev is not signal.default_int_handler:
        prev(signum, frame)
        return
    raise KeyboardInterrupt


def _cancelled(run: Flushable) -> bool:
    try:
        return run.cancel_requested()
    except Exception:  # noqa: BLE001 - in a signal handler: an unreadable marker is no cancel
        return False


def register(run: Flushable) -> None:
    """Flush ``run`` on the signals; install the handlers once, only from the main thread."""
    from dii_hpc.slurm.preempt import preempt_signal

    preempt = preempt_signal()  # a bad $SUBMITIT_PREEMPT_SIGNAL is refused before any change
    _runs.append(run)
    if _installed or not _main():
        return
    # preempt first: when it is TERM itself, SIGTERM's own handler is the one that stays
    for sig, handler in ((preempt, _on_preempt), *((s, _on_stop) for s in STOP_SIGNALS)):
        prev = signal.getsignal(sig)
        if sig == signal.SIGINT and prev is not signal.default_int_handler:
            continue  # Ctrl-C ignored, or someone else's: leave it to them
        _installed.setdefault(sig, prev)
        signal.signal(sig, handler)


def unregister(run: Flushable) -> None:
    with contextlib.suppress(ValueError):
        _runs.remove(run)
    if _runs or not _installed:
        return
    if _main():
        for sig, prev in _installed.items():
            if signal.getsignal(sig) in (_on_stop, _on_preempt):
                signal.signal(sig, prev if prev is not None else signal.SIG_DFL)
        _installed.clear()
