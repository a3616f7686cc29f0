"""What a run keeps while the store refuses writes, and how it says so.

A full disk or a network filesystem's hiccup makes a write fail with an OSError.  The run
loses nothing: the metric writer keeps the rows it could not write (`MetricWriter.pending`)
and the run keeps run.json's state in memory (``_unsaved``); every flush writes them again,
the background thread backing off between tries.  Said on stderr: the first refusal (once),
the store taking writes again, and `finish` waiting for it.  What waits is bounded by the
run's buffer cap: beyond it `log_metric` raises InfraError (`_over_cap`), and `finish` waits
at most ``STORE_WAIT_S`` (or until a stop signal) for the kept points and the end state.
A mixin of `tracking.run.Run`.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from dii_hpc.errors import InfraError
from dii_hpc.tracking import signals

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.metrics import MetricWriter
    from dii_hpc.store.store import Store

STORE_WAIT_S = 300.0  # how long `finish` waits for a store that refuses writes
RETRY_MIN_S, RETRY_MAX_S = 0.25, 8.0  # backoff between tries while the store refuses


def say(line: str) -> None:
    """One line on stderr; never raises (stderr may be a file on the very disk that is full,
    and this may run in a signal handler while the main thread writes to stderr)."""
    with contextlib.suppress(OSError, ValueError, RuntimeError):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _reason(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}".rstrip(": ")


class KeepingMixin:
    id: str
    store: Store
    _writer: MetricWriter
    _buf: bytearray
    _cap_bytes: int

    if TYPE_CHECKING:  # pragma: no cover - Run's own
        def flush(self, heartbeat: bool = False, *, save: bool = True) -> None: ...

    def _init_keeping(self) -> None:
        self._kept_bytes = 0  # the writer's pending rows, counted like buffered points
        self._unsaved = False  # run.json's latest state is not on disk
        self._refusal: BaseException | None = None  # the store's latest refusal, until it takes writes
        self._warned = False
        self._retry_s = RETRY_MIN_S
        self._retry_at = 0.0

    def _kept(self) -> int:
        return self._writer.pending_rows

    def _refused(self, err: BaseException) -> None:
        """The store refused a write: note it, say it the first time, back off."""
        self._refusal = err
        self._retry_at = time.monotonic() + self._retry_s
        self._retry_s = min(RETRY_MAX_S, self._retry_s * 2)
        if not self._warned:
            self._warned = True
            say(f"dii-hpc: warning: run {self.id}: the store refused a write ({_reason(err)}); "
                "the run's metric points and record are kept in memory and written again at "
                "each flush")

    def _settle(self, refused: BaseException | None) -> None:
        """After a flush: still refused, or (after a refusal) everything written again."""
        if refused is not None:
            self._refused(refused)
        elif self._refusal is not None and not self._unsaved and not self._kept():
            self._refusal, self._retry_s, self._retry_at = None, RETRY_MIN_S, 0.0
            say(f"dii-hpc: run {self.id}: the store takes writes again; every kept point is stored")

    def _retry_due(self) -> bool:
        return self._refusal is None or time.monotonic() >= self._retry_at

    def _over_cap(self) -> InfraError:
        cap = self._cap_bytes
        limit = f"{cap / 2**20:.0f} MiB" if cap >= 2**20 else f"{cap / 2**10:.0f} KiB"
        why = _reason(self._refusal) if self._refusal is not None else "it is too slow"
        return InfraError(
            f"run {self.id}: the store at {self.store.root} refuses writes ({why}) and the "
            f"metric points waiting in memory passed their {limit} limit: this point is not "
            "kept; make room there (the kept points are written at the next flush)")

    def _wait_for_store(self, step: Callable[[], bool], deadline: float, what: str) -> bool:
        """Call ``step`` until it returns True (written), ``deadline`` passes or a stop signal
        arrives; the first wait is said on stderr."""
        stops, told = signals.stops(), False
        while not step():
            if time.monotonic() >= deadline or signals.stops() != stops:
                return False
            if not told:
                told = True
                left = max(0.0, deadline - time.monotonic())
                say(f"dii-hpc: run {self.id}: waiting up to {left:.0f} s for the store to take "
                    f"{what} ({_reason(self._refusal) if self._refusal else 'refused'})")
            time.sleep(max(0.0, min(self._retry_at - time.monotonic(), deadline - time.monotonic())))
        return True

    def _store_points(self, deadline: float, save: bool) -> None:
        """Flush until every point is on disk (`finish`); InfraError naming what could not be."""
        def written() -> bool:
            self.flush(save=save)
            return not self._kept()

        if not self._wait_for_store(written, deadline, "its kept metric points"):
            raise InfraError(f"{self._kept():,} metric point(s) could not be written: "
                             f"{_reason(self._refusal) if self._refusal else 'refused'}")
