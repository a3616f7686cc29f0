"""A tracked run: buffered metric logging, params, tags, artifacts, and its end state.

``log_metric`` is on the hot path of training loops, so it only packs one fixed-size record
(key id, step, value, time) onto a bytearray: no Python object per point, so a large buffer
costs the garbage collector nothing and turns into a numpy array without a per-point loop.
A background thread turns the buffer into zarr appends when it grows past ``flush_points``
or every ``flush_interval`` seconds, and the run flushes again at finish, at exit and on
SIGTERM, SIGINT and the preempt signal (tracking.signals). The buffer is drained with slice + del and filled with one ``extend`` per
point (each atomic under the GIL, and no buffer export is ever held), so the logging thread
never takes a lock.

A write the store refuses (a full disk, a network filesystem's hiccup: any OSError) loses
nothing: the points stay pending in the metric writer and run.json's state in memory, both
written by the next flush, and the first failure is said once on stderr (`tracking.keeping`).
What waits is bounded by the buffer cap: beyond it `log_metric` raises InfraError.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from dii_hpc import distributed
from dii_hpc import vocabulary as vocab
from dii_hpc.errors import BadInput
from dii_hpc.store import records
from dii_hpc.store.names import check_key
from dii_hpc.store.store import Store
from dii_hpc.tracking import active, ranks, signals
from dii_hpc.tracking.artifacts import ArtifactsMixin
from dii_hpc.tracking.ending import EndingMixin
from dii_hpc.tracking.exits import on_exit
from dii_hpc.tracking.fields import FieldsMixin
from dii_hpc.tracking.keeping import KeepingMixin
from dii_hpc.tracking.summary import SummaryMixin
from dii_hpc.tracking.values import to_float, to_step

FLUSH_INTERVAL_S = 10.0
FLUSH_POINTS = 10_000
POLL_S = 0.05  # how often the flush thread looks at the buffer's size
BUFFER_CAP_BYTES = 64 << 20  # buffered points beyond this are flushed by the logging thread
_POINT_FIELDS = (("key", "i"), ("step", "Q"), ("value", "d"), ("time", "d"))  # little-endian, packed
_RECORD = struct.Struct("<" + "".join(code for _, code in _POINT_FIELDS))
AUTO_STEP = 2**64 - 1  # step=None: resolved to the key's previous step + 1 at flush time


def _point_dtype() -> Any:
    import numpy as np

    return np.dtype([(name, "<" + code) for name, code in _POINT_FIELDS])


class Run(ArtifactsMixin, EndingMixin, FieldsMixin, KeepingMixin, SummaryMixin):
    """One run of an experiment, open for writing by this process (the run's single writer)."""

    log_metric: Any  # bound per instance to a closure (see _make_logger)

    def __init__(
        self,
        store: Store,
        record: dict[str, Any],
        *,
        resumed: bool = False,
        owns_status: bool = True,
        flush_interval: float = FLUSH_INTERVAL_S,
        flush_points: int = FLUSH_POINTS,
        key_prefix: str = "",
        writes_record: bool = True,
    ) -> None:
        from dii_hpc.store.metrics import MetricWriter

        self.store = store
        self.record = record
        self.id: str = record["run_id"]
        self.experiment: str = record["experiment"]
        self.dir: Path = store.run_path(self.experiment, self.id)
        # Another process of the same task (a rank, a node's sampler) writes only its own
        # arrays, under key_prefix; run.json and artifacts.json stay rank 0's alone.
        self.key_prefix = key_prefix
        self.writes_record = writes_record
        self.owns_status = owns_status and writes_record
        self.finished = False
        self._pid = os.getpid()  # a forked child inherits this object but is not its writer
        self._writer = MetricWriter(self.dir)
        if resumed:  # every array on disk, whoever wrote it (ranks, samplers, an attempt before)
            self._writer.resume()
            self._merge_summary()
        self._keys: list[str] = []
        self._key_ids: dict[str, int] = {}
        self._fast_ids: dict[str, int] = {}  # what the hot path may use; emptied to divert it
        self._watchers: dict[str, Any] = {}  # key -> callback(value, step): never on the hot path
        self._buf = bytearray()  # packed _RECORDs
        self._flush_lock = threading.Lock()
        self._record_lock = threading.RLock()
        self._flush_error: BaseException | None = None
        self._deferred = False  # record writes kept for the next one (`deferring`)
        self._init_keeping()
        self._flush_points = max(1, int(flush_points))
        self._flush_bytes = self._flush_points * _RECORD.size
        self._cap_bytes = max(4 * self._flush_bytes, BUFFER_CAP_BYTES)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.log_metric = self._make_logger()
        self._thread = threading.Thread(
            target=self._background, args=(float(flush_interval),), daemon=True,
            name=f"dii-hpc-flush-{self.id[-6:]}",
        )
        self._thread.start()
        signals.register(self)
        ref = weakref.ref(self)  # a finished run must not be kept alive by the exit hook
        on_exit(lambda: _end_at_exit(ref))

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, experiment={self.experiment!r}, status={self.status!r})"

    @property
    def status(self) -> str:
        status: str = self.record["status"]
        return status

    # ----------------------------------------------------------------- metrics
    def _make_logger(self) -> Any:
        """The hot path: one C-level ``pack`` both encodes and type-checks the point.

        ``pack`` refuses what ``to_float``/``to_step`` refuse (non-numbers, non-integer and
        negative steps: the step field is unsigned), and ``_fast_ids`` holds only keys that
        may take this path, so every other case (a new key, bad input, an ended run, a
        buffer over its cap) costs nothing here and is handled by ``_log_slow``.
        """
        extend, ids, pack, now = self._buf.extend, self._fast_ids, _RECORD.pack, time.time
        auto, slow = AUTO_STEP, self._log_slow

        def log_metric(key: str, value: float, step: int | None = None) -> None:
            """Record ``value`` for ``key`` at ``step`` (None: the key's previous step + 1)."""
            try:
                extend(pack(ids[key], auto if step is None else step, value, now()))
            except Exception:  # noqa: BLE001 - not a fast-path case: the slow path says why
                slow(key, value, step)

        return log_metric

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        log = self.log_metric
        for key, value in metrics.items():
            log(key, value, step)

    def _log_slow(self, key: str, value: Any, step: Any) -> None:
        if not isinstance(key, str):
            check_key(key)  # the one-line error for a key that is not a string
        value = to_float(key, value)
        step = AUTO_STEP if step is None else to_step(key, step)
        kid = self._key_ids.get(key)
        if kid is None or self._stop.is_set():
            kid = self._register_key(key)
        if len(self._buf) + self._kept_bytes >= self._cap_bytes:
            self.flush()  # the flush thread fell far behind (a stalled filesystem): back-pressure
            if len(self._buf) + self._kept_bytes >= self._cap_bytes:
                raise self._over_cap()  # the store still refuses them: bounded, and said
        self._buf.extend(_RECORD.pack(kid, step, value, time.time()))
        watcher = self._watchers.get(key)
        if watcher is None:
            self._fast_ids[key] = kid
        else:
            watcher(value, None if step == AUTO_STEP else step)

    def on_metric(self, key: str, callback: Any) -> None:
        """Call ``callback(value, step)`` after each point of ``key`` is buffered (None: stop).

        A watched key is kept out of ``_fast_ids``, so only its own points take the slow path;
        every other key stays one ``pack``.  An adaptive sweep reports its metric to the
        trial's pruner this way; whatever the callback raises reaches the caller of log_metric.
        """
        if callback is None:
            self._watchers.pop(key, None)
            return
        self._watchers[key] = callback
        self._fast_ids.pop(key, None)

    def _register_key(self, key: str) -> int:
        if self._stop.is_set():
            raise BadInput(f"run {self.id} has ended; cannot log {key!r}")
        stored = self.key_prefix + key
        check_key(stored)
        for other in (*self._keys, *self._writer.stored_keys()):
            if other.startswith(stored + "/") or stored.startswith(other + "/"):
                raise BadInput(f"metric key {stored!r} conflicts with {other!r}: a key cannot also "
                               "be the folder of other keys (use e.g. 'loss/train' and 'loss/val')")
        with self._record_lock:
            if key not in self._key_ids:
                self._key_ids[key] = len(self._keys)
                self._keys.append(stored)
        return self._key_ids[key]

    def _background(self, interval: float) -> None:
        """Flush when the buffer passes flush_points (polled) or interval seconds have passed.

        Polling keeps the size check off the logging thread's hot path; 20 wake-ups a
        second cost nothing measurable.
        """
        last = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(min(POLL_S, interval))
            if self._stop.is_set():
                break
            if len(self._buf) + self._kept_bytes >= self._cap_bytes:
                self._fast_ids.clear()  # the next log_metric takes the slow path and flushes
            if len(self._buf) < self._flush_bytes and time.monotonic() - last < interval:
                continue
            if not self._retry_due():  # the store refused the last write: back off
                continue
            last = time.monotonic()
            try:
                self.flush(heartbeat=True)
            except BaseException as err:  # noqa: BLE001 - surfaced at the next finish
                self._flush_error = err

    def flush(self, heartbeat: bool = False, *, save: bool = True) -> None:
        """Write buffered points and the run record; safe from any thread or signal handler.

        With ``heartbeat`` (the background thread) the record is rewritten even when no
        point arrived, so ``dii-hpc status`` can tell a silent writer from a dead one.
        ``save=False``: the points only, their summary kept in memory for the caller's own
        record write (`finish` writes the end state next: one run.json write, not two).
        A store that refuses the write raises nothing here: what it refused is kept and
        written by the next flush (`tracking.keeping`); `finish` waits for it.
        """
        if os.getpid() != self._pid:
            return
        with signals.flushing(), self._flush_lock:
            blocks = self._take_buffer()
            points = bool(blocks or self._writer.pending)
            refused: OSError | None = None
            if points:
                try:
                    self._writer.append_many(blocks)
                except OSError as err:
                    refused = err
                finally:  # what reached the disk, even when a part did not
                    self._kept_bytes = self._writer.pending_rows * _RECORD.size
                    with self._record_lock:
                        self._merge_summary()
            if save and (points or self._unsaved or (heartbeat and self.owns_status)):
                with self._record_lock:
                    self._save()
            self._settle(refused)

    def _take_buffer(self) -> dict[str, Any]:
        """The buffered points as rows per stored key (step NaN: auto); the buffer emptied."""
        import numpy as np

        n = len(self._buf)
        if not n:
            return {}
        packed = self._buf[:n]  # a copy: exporting the live buffer would block extend
        del self._buf[:n]
        block = np.frombuffer(packed, dtype=_point_dtype())
        rows = np.empty((block.shape[0], 3))  # step (NaN: auto), value, time
        rows[:, 0] = block["step"]
        rows[block["step"] == AUTO_STEP, 0] = np.nan
        rows[:, 1] = block["value"]
        rows[:, 2] = block["time"]
        kids = block["key"]
        present = np.flatnonzero(np.bincount(kids)).tolist()
        return {self._keys[kid]: rows if len(present) == 1 else rows[kids == kid]
                for kid in present}

    def _save(self, sets_status: bool = False) -> bool:
        """Rewrite run.json (and its heartbeat); unless this write ``sets_status``, an end
        someone else recorded meanwhile is kept (`EndingMixin._keep_ended`).  False when the
        store refused it: the record stays in memory and the next flush writes it."""
        if not self.writes_record:
            return True
        if self._deferred and not sets_status:
            self._unsaved = True  # the next write publishes it (`deferring`)
            return True
        if not sets_status and vocab.is_active(self.record.get("status")):
            self._keep_ended()
        self.record["heartbeat"] = time.time()
        try:
            records.write_record(self.dir, self.record, was_terminal=not sets_status
                                 and vocab.is_terminal(self.record.get("status")))
        except OSError as err:
            self._unsaved = True
            self._refused(err)
            return False
        self._unsaved = False
        return True


def start_run(
    experiment: str,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    *,
    kind: str = "train",
    store: Store | str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    parent_run: str | None = None,
    flush_interval: float = FLUSH_INTERVAL_S,
    flush_points: int = FLUSH_POINTS,
    all_ranks: bool = False,
    rank: int | None = None,
    fields: dict[str, Any] | None = None,
) -> Run | ranks.SilentRun:
    """Open a run for writing: new, or the existing ``run_id`` resumed (e.g. after requeue).

    One run per task, not per rank: on ranks above 0 (``rank``, else `distributed.env()`)
    the run is rank 0's, logging does nothing, or with ``all_ranks`` goes to `rank<k>/` keys.
    ``fields``: sections of run.json (manifest, launch, ...) in the one write that opens the
    run (each write is a round trip on a shared filesystem); a mapping is merged one level
    into a resumed run's own (as `Store.update_run` merges), other values replace.
    """
    st = store if isinstance(store, Store) else Store(store)
    st.ensure_writable()
    rank = distributed.rank() if rank is None else rank
    if rank != 0:
        return _other_rank(st, experiment, run_id, rank, all_ranks, flush_interval)
    now = time.time()
    opening = {"status": "RUNNING", "end_time": None, "error": None, "host": socket.gethostname(),
               "pid": os.getpid(), "heartbeat_interval": float(flush_interval),
               **({"parent_run": parent_run} if parent_run else {})}
    resumed = False
    existing = run_id if run_id is not None and _exists(st, experiment, run_id) else None
    if existing is not None:
        record = records.read_record(st.run_path(experiment, existing))
        resumed = record.get("start_time") is not None
        record["params"] = {**record.get("params", {}), **(params or {})}
        record["tags"] = {**record.get("tags", {}), **{k: str(v) for k, v in (tags or {}).items()}}
        record["attempts"] = int(record.get("attempts", 0)) + 1
        record.update(opening)
        record["start_time"] = record.get("start_time") or now
        for key, value in (fields or {}).items():
            old = record.get(key)
            record[key] = {**old, **value} if isinstance(value, dict) and isinstance(old, dict) \
                else value
    else:  # the opened record in the one write that creates the run
        record = st.create_record(experiment, kind, params, tags, status="RUNNING",
                                  run_id=run_id, fields={**(fields or {}), **opening,
                                                         "attempts": 1, "start_time": now,
                                                         "heartbeat": now})
    run = Run(st, record, resumed=resumed, flush_interval=flush_interval, flush_points=flush_points,
              key_prefix="rank0/" if all_ranks else "")
    if existing is not None:  # a new run's record was written opened by create_record
        run._save(sets_status=True)
    else:
        run._artifacts = {}  # a new run: artifacts.json is this writer's, and not there yet
    active.push(run)
    return run


def _other_rank(st: Store, experiment: str, run_id: str | None, rank: int, all_ranks: bool,
                flush_interval: float) -> Run | ranks.SilentRun:
    """Rank k > 0: rank 0's run seen silently, or (all_ranks) a writer of its own arrays."""
    if not all_ranks:
        return ranks.SilentRun(st, experiment, run_id or "", rank)
    if run_id is None or not _exists(st, experiment, run_id):
        raise BadInput(f"rank {rank}: all_ranks=True needs the id of the task's existing run "
                       "(run_id=..., or launch through dii-hpc)")
    record = records.read_record(st.run_path(experiment, run_id))
    run = Run(st, record, resumed=True, owns_status=False, flush_interval=flush_interval,
              key_prefix=f"rank{rank}/", writes_record=False)
    active.push(run)
    return run


def _end_at_exit(ref: weakref.ref[Run]) -> None:
    """The exit hook of a run still alive at exit (a weak reference: it keeps no run alive)."""
    if (run := ref()) is not None:
        run._at_exit()


def _exists(store: Store, experiment: str, run_id: str) -> bool:
    return (store.run_path(experiment, run_id) / records.RUN_FILE).exists()
