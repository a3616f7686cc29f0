"""How a run ends: `finish`, the exit hook, the ``with`` block, and an end recorded by others.

A mixin of `tracking.run.Run`.  A store that refuses writes (a full disk) is waited for, up
to ``keeping.STORE_WAIT_S``, so that every kept point and then the end state are written once
space allows; points it still refuses then end the run FAILED with the error (never a run left
RUNNING while its record can be written).  A run stopped by a signal says which (KILLED), a
run `dii-hpc cancel` asked to stop ends CANCELLED however its process ended (a rank killed
by the cancel fails its task), and an end that someone else recorded while this writer still
ran (`dii-hpc status` found its launcher dead) is kept: a later heartbeat never makes the run
RUNNING again.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import InfraError
from dii_hpc.store import records
from dii_hpc.tracking import active, keeping, signals

CANCELLED_BY_USER = "cancelled by the user (dii-hpc cancel)"


class EndingMixin:
    id: str
    dir: Path
    record: dict[str, Any]
    finished: bool
    owns_status: bool
    _pid: int
    _fast_ids: dict[str, int]
    _stop: threading.Event
    _wake: threading.Event
    _thread: threading.Thread
    _record_lock: threading.RLock
    _flush_error: BaseException | None

    if TYPE_CHECKING:  # pragma: no cover - Run's and KeepingMixin's own
        def flush(self, heartbeat: bool = False, *, save: bool = True) -> None: ...
        def _save(self, sets_status: bool = False) -> bool: ...
        def _store_points(self, deadline: float, save: bool) -> None: ...
        def _wait_for_store(self, step: Any, deadline: float, what: str) -> bool: ...

    def cancel_requested(self) -> bool:
        """Did `dii-hpc cancel` ask for this run to stop (see `records.request_cancel`)?"""
        return records.cancel_requested(self.dir)

    def finish(self, status: str = vocab.FINISHED, error: str | None = None) -> None:
        """Flush everything, then record the end state (once; later calls do nothing).

        Signals arriving meanwhile are absorbed (`signals.ending`): the final flush completes.
        A store that refuses writes is waited for (`keeping`); points it still refuses end
        the run FAILED with the error, an end state it refuses stays unwritten, and both
        raise InfraError."""
        if self.finished:
            return
        deadline = time.monotonic() + keeping.STORE_WAIT_S
        with signals.ending():
            self._fast_ids.clear()  # logging after the end now raises instead of being dropped
            self._stop.set()
            self._wake.set()
            if self._thread is not threading.current_thread():
                self._thread.join(timeout=60)
            failure: BaseException | None = None
            try:  # the end state's write below publishes the summary too
                self._store_points(deadline, save=not self.owns_status)
            except Exception as err:  # noqa: BLE001 - recorded in the end state, raised below
                failure = err
            failure, self._flush_error = failure or self._flush_error, None
            self.finished = True
            signals.unregister(self)
            active.forget(self)
            if status in (vocab.KILLED, vocab.FAILED) and self.cancel_requested():
                status, error = vocab.CANCELLED, CANCELLED_BY_USER
            if failure is not None:
                status, error = vocab.FAILED, f"writing metrics failed: {failure}"
            saved = True
            if self.owns_status:
                with self._record_lock:
                    self.record.update(status=status, end_time=time.time(), error=error)
                    saved = self._wait_for_store(lambda: self._save(sets_status=True), deadline,
                                                 f"its end state ({status})")
        if failure is not None:
            raise InfraError(f"run {self.id}: writing metrics failed: {failure}") from failure
        if not saved:
            raise InfraError(f"run {self.id}: the store refused its end state ({status}); "
                             "`dii-hpc status` will end it once the store takes writes")

    def _keep_ended(self) -> bool:
        """Take over an end recorded on disk by someone else; True when there is one."""
        try:
            disk = records.read_record(self.dir)
        except (OSError, ValueError):
            return False
        if not vocab.is_terminal(disk.get("status")):
            return False
        for key in ("status", "end_time", "error"):
            self.record[key] = disk.get(key)
        return True

    def _at_exit(self) -> None:
        if os.getpid() != self._pid:
            return  # exit of a forked child (multiprocessing worker): the parent owns the run
        if self.finished or self._stop.is_set():
            return
        try:
            if signals.received() is not None:  # e.g. Ctrl-C of a script that uses no `with`
                self.finish(vocab.KILLED, signals.describe(""))
            else:
                self.finish(vocab.FAILED if self.owns_status else vocab.FINISHED,
                            "process exited without ending the run")
        except InfraError as err:  # at exit: the one line, not threading's raw traceback
            keeping.say(f"dii-hpc: error: {err}")

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.finish(vocab.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt) or (
            issubclass(exc_type, SystemExit) and getattr(exc, "code", 0) not in (0, None)
        ):
            self.finish(vocab.KILLED, signals.describe(f"{exc_type.__name__}: {exc}".strip()))
        elif issubclass(exc_type, SystemExit):
            self.finish(vocab.FINISHED)
        else:
            summary = str(exc).splitlines()[0] if str(exc) else ""
            self.finish(vocab.FAILED, f"{exc_type.__name__}: {summary}".rstrip(": "))
