"""A study's journal on a shared filesystem, in batches: what a trial's claim and tell cost.

Optuna's `JournalFileBackend` takes its file lock for every log it appends (create, rename
and unlink of the lock file), opens the journal for every append (and fsyncs it), and reads
the journal (open, stat, read) before every query.  On GlusterFS each of those is a round
trip to the servers, and a trial's claim (recover, count, ask, its attrs) is a dozen appends
and thirty queries.  `batch` takes the journal's lock ONCE for such a group of operations:
- the appends and the reads go through one descriptor opened for the batch (read-write,
  append), and one fsync before the lock is released makes the appends durable (a crash before it loses the whole batch, as a crash before
  the batch would: nobody acted on it, since the lock was held; the claim returns after it);
- a query syncs with the file only when this process appended since its last sync: with the
  lock held nobody else can append, so the state it replayed is the file's (exact, not
  stale), and the first query of the batch always reads the file, after the lock was taken;
  what this process appended after that read is replayed from the bytes it wrote (they are
  the file's from where the read ended: O_APPEND, and nobody else appends).
Outside a batch the backend and storage are Optuna's own, unchanged.  The lock is Optuna's
`JournalFileOpenLock` (O_EXCL), the one every writer of the journal takes.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Generator, Iterator
from typing import Any


def storage(path: str, lock: Any) -> Any:
    """Optuna's JournalStorage over the journal at ``path``, able to `batch`."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    class Backend(JournalFileBackend):
        """The file backend; inside a batch, appends through one descriptor, no lock."""

        def __init__(self) -> None:
            super().__init__(path, lock_obj=lock)
            self.held = False
            self._fd: int | None = None  # the journal opened for the batch (read, append)
            self._appended = False
            self._known: int | None = None  # the file read up to here in this batch
            self._mine = bytearray()  # what this batch appended after ``_known``

        @contextlib.contextmanager
        def batch(self) -> Iterator[None]:
            if self.held:  # nested (a tell during a claim's recovery): the outer one
                yield
                return
            self._lock.acquire()
            self.held = True
            try:
                yield
            finally:
                try:
                    if self._fd is not None:
                        if self._appended:
                            os.fsync(self._fd)  # durable before anyone may act on the batch
                        os.close(self._fd)
                finally:
                    self._fd, self.held, self._appended = None, False, False
                    self._known = None
                    self._mine.clear()
                    with contextlib.suppress(RuntimeError):  # broken as stale: gone anyway
                        self._lock.release()

        def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
            """Optuna's reading (complete lines up to the size seen, offsets of the lines
            read kept); inside a batch through the batch's descriptor, by offset (pread:
            the appends move its offset), up to the file's size: only this process appends
            while the lock is held."""
            if not self.held:
                yield from super().read_logs(log_number_from)
                return
            offsets = self._log_number_offset
            start = log_number_from if log_number_from in offsets else 0
            data = self._read_from(offsets[start])
            for number, line in enumerate(data.splitlines(keepends=True), start=start):
                if not line.endswith(b"\n"):
                    break  # a line being written: the next read has it
                offsets.setdefault(number + 1, offsets[number] + len(line))
                if number >= log_number_from:
                    yield json.loads(line)

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            if not self.held:
                super().append_logs(logs)
                return
            data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs)
                    + "\n").encode("utf-8")
            fd, self._appended = self._descriptor(), True
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if self._known is not None:
                self._mine += data

        def _read_from(self, offset: int) -> bytes:
            """The journal's bytes from ``offset`` to its end, in a batch: from the file, or
            from this batch's own appends when they are all that lies past what it read."""
            if self._known is not None and offset == self._known:
                data = bytes(self._mine)
            else:
                data = _pread_to_end(self._descriptor(), offset)
            self._mine.clear()
            complete = not data or data.endswith(b"\n")  # else a dead writer's torn line
            self._known = offset + len(data) if complete else None
            return data

        def _descriptor(self) -> int:
            """The batch's one descriptor of the journal: reads say where they read, and
            O_APPEND writes go to the end."""
            if self._fd is None:
                self._fd = os.open(self._file_path, os.O_RDWR | os.O_APPEND)
            return self._fd

    class Storage(JournalStorage):
        """JournalStorage whose queries inside a batch skip a sync that can find nothing."""

        def __init__(self, backend: Backend) -> None:
            self._synced = False  # the replayed state is the file's (only while held)
            self._file = backend
            super().__init__(backend)

        def _write_log(self, op_code: int, extra_fields: dict[str, Any]) -> None:
            self._synced = False
            super()._write_log(op_code, extra_fields)

        def _sync_with_backend(self) -> None:
            held = self._file.held
            if held and self._synced:
                return
            super()._sync_with_backend()
            self._synced = held

        @contextlib.contextmanager
        def batch(self) -> Iterator[None]:
            outer = not self._file.held
            with self._file.batch():
                if outer:
                    self._synced = False  # the first query reads what others appended
                try:
                    yield
                finally:
                    if outer:
                        self._synced = False

    return Storage(Backend())


def _pread_to_end(fd: int, offset: int) -> bytes:
    """The file's bytes from ``offset`` to its size now (a networked filesystem may return
    a long read in parts)."""
    size, parts = os.fstat(fd).st_size, []
    while offset < size:
        part = os.pread(fd, size - offset, offset)
        if not part:
            break
        parts.append(part)
        offset += len(part)
    return b"".join(parts)


@contextlib.contextmanager
def batch(study: Any) -> Iterator[None]:
    """The study's journal lock held around a group of operations (see the module doc);
    a storage that cannot batch runs them as Optuna does."""
    opened = getattr(study._storage, "batch", None)
    if opened is None:
        yield
        return
    with opened():
        yield
