"""Row appends to one metric array, written as zarr v3 chunk files without zarr's event loop.

Why not ``arr.resize(); arr[start:] = block``: zarr's async write path costs ~150 ns a row and
hops between its event-loop thread and a pool, each hop taking the GIL away from the training
loop that logs the metrics (a background flush slowed that loop ~2x). An append to the one
layout ``create_metric_array`` makes is simple: re-encode the last partial chunk with the new
rows, write any new chunks, then publish the new shape in zarr.json. Chunks go first, so a
reader on another node never sees a row that is not on disk; a file a reader may be reading
(zarr.json, a chunk the published shape covers) is replaced by temp + fsync + rename, a chunk
no published shape covers yet is written in place and fsync'd (nobody opens it before the
zarr.json written after it: one round trip fewer on a shared filesystem). Encoding runs in
numcodecs (GIL released), so a background flush costs the logging thread almost nothing.
Arrays of any other layout are appended to through zarr itself.

An append that fails (a full disk, a network filesystem's hiccup) leaves the appender as it was:
its rows are not counted until their zarr.json is on disk, so the same rows appended again
(the writer retries them) are stored exactly once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.store.atomic import write_bytes
from dii_hpc.store.zstore import (
    chunk_codec,
    chunk_path,
    fast_layout,
    open_with_zarr,
    read_chunk,
    separator,
)

_POOL: dict[int, ThreadPoolExecutor] = {}  # by pid: a forked child has none of its threads
_TEMPLATES: dict[str, bytes] = {}


def _templates() -> dict[str, bytes]:
    """zarr.json of a group and of an empty metric array, made once by zarr itself in memory.

    Creating an array through zarr costs ~15 ms of event-loop hops per key; every metric
    array has the same metadata, so new keys copy these bytes instead.
    """
    if not _TEMPLATES:
        import zarr
        from zarr.storage import MemoryStore

        from dii_hpc.store.zstore import create_metric_array

        files: dict[str, Any] = {}
        create_metric_array(zarr.open_group(MemoryStore(files), mode="w"), "a")
        _TEMPLATES["group"] = files["zarr.json"].to_bytes()
        _TEMPLATES["array"] = files["a/zarr.json"].to_bytes()
    return _TEMPLATES


def create_metric_groups(root: Path, keys: list[str], known: set[Path] | None = None) -> None:
    """The zarr.json of every missing group above the arrays ``keys`` (written together, their
    fsyncs overlapped); ``known``: groups this writer already made, so that a new key costs
    no stat on a networked store."""
    metas, writes = group_writes(root, keys, known)
    _run_all(writes)
    if known is not None:
        known.update(metas)


def group_writes(root: Path, keys: list[str],
                 known: set[Path] | None = None) -> tuple[set[Path], list[Callable[[], None]]]:
    """The group zarr.json files above the arrays ``keys`` and the writes of those missing
    (their folders made here, parents first; ``known``: groups already on disk).  The writes
    may go with the arrays' chunks (`append_all`'s ``first``), before any zarr.json of an
    array is published."""
    metas: set[Path] = set()
    for key in keys:
        parts = key.split("/")
        metas.update(root.joinpath(*parts[:depth]) / "zarr.json" for depth in range(len(parts)))
    missing = [m for m in sorted(metas - (known or set()), key=lambda m: len(m.parts))
               if _absent(m)]
    return metas, [partial(write_bytes, meta, _templates()["group"]) for meta in missing]


def _absent(meta: Path) -> bool:
    """Whether a group's zarr.json is missing; its folder made when it is (parents first):
    a folder this call creates is new, so its zarr.json needs no stat (on a networked store
    each is a round trip, and a new run's metrics.zarr is the common case)."""
    try:
        meta.parent.mkdir(parents=True)
    except FileExistsError:
        return not meta.exists()
    return True


def _write_unpublished(path: Path, data: bytes | memoryview, make_dir: bool) -> None:
    """A chunk that no published zarr.json covers: written in place and fsync'd, since no
    reader opens it before the zarr.json that covers it, which is written after it (a failed
    write is written again whole: O_TRUNC).  ``make_dir``: the array's folder is new."""
    if make_dir:
        path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags, 0o666)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def create_metric_files(root: Path, key: str) -> None:
    """The metadata of a new, empty array ``key`` under the group ``root`` (and any missing groups)."""
    create_metric_groups(root, [key])
    write_bytes(root / key / "zarr.json", _templates()["array"])


def _pool() -> ThreadPoolExecutor:
    """Chunk writes of one big flush overlap their fsyncs (created on first multi-file append)."""
    pid = os.getpid()
    if pid not in _POOL:
        _POOL.clear()
        _POOL[pid] = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dii-hpc-chunks")
    return _POOL[pid]


def _attempt(write: Callable[[], None]) -> Exception | None:
    try:
        write()
    except Exception as err:  # noqa: BLE001 - returned to the caller, which decides
        return err
    return None


def _try_all(writes: list[Callable[[], None]]) -> list[Exception | None]:
    """Run independent file writes, in the pool when there are several (each fsync waits on
    the disk or the network, so they overlap); each one's error, once every one has ended
    (none is left running behind a failure)."""
    if len(writes) == 1:
        return [_attempt(writes[0])]
    return list(_pool().map(_attempt, writes)) if writes else []


def _run_all(writes: list[Callable[[], None]]) -> None:
    """`_try_all`, raising the first error."""
    if err := next((e for e in _try_all(writes) if e is not None), None):
        raise err


def append_all(pairs: list[tuple[ChunkAppender, np.ndarray]],
               first: list[Callable[[], None]] | None = None) -> list[Exception | None]:
    """Append a block to each of several arrays, their writes overlapped: every chunk of
    every array first, then each array's zarr.json (so no reader sees a row not on disk).
    ``first``: writes that must precede every publication (the new groups' zarr.json), made
    together with the chunks; when one fails, no array is published.

    Returns each pair's error (None: its rows are stored).  An array whose chunks or
    zarr.json could not be written keeps its state, so the same block appended again later
    is stored once; the other arrays' appends stand."""
    errors: list[Exception | None] = [None] * len(pairs)
    first = first or []
    staged = []
    for i, (app, block) in enumerate(pairs):
        if not block.shape[0]:
            continue
        if app._zarr is not None:  # another layout: zarr writes it
            errors[i] = _attempt(partial(app._append_zarr, block))
        else:
            staged.append((i, app, block, app._chunks(block)))
    writes = [(i, partial(app._write_chunk, index, rows))
              for i, app, _, jobs in staged for index, rows in jobs]
    results = _try_all(first + [w for _, w in writes])
    for (i, _), err in zip(writes, results[len(first):], strict=True):
        errors[i] = errors[i] or err
    if failed := next((err for err in results[:len(first)] if err is not None), None):
        errors = [err or failed for err in errors]
    staged = [s for s in staged if errors[s[0]] is None]
    published = _try_all([partial(app._publish, app.rows + block.shape[0])
                          for _, app, block, _ in staged])
    for (i, app, block, jobs), err in zip(staged, published, strict=True):
        if err is None:
            app._advance(block, jobs[-1][1])
        errors[i] = err
    return errors


class ChunkAppender:
    """The single writer's view of one metric array: its row count and last partial chunk.

    ``new=True``: an array not on disk yet; its zarr.json is written by the first append,
    after its first chunk (one metadata write instead of two, and never an empty array)."""

    def __init__(self, array_dir: str | os.PathLike[str], rows: int, *, new: bool = False) -> None:
        self.dir = Path(array_dir)
        self.rows = int(rows)
        self._new = new
        raw = _templates()["array"] if new else (self.dir / "zarr.json").read_bytes()
        self._meta = json.loads(raw)
        self._zarr: Any = None
        if not fast_layout(self._meta):
            self._zarr = open_with_zarr(self.dir, mode="r+")
            return
        self._crow = int(self._meta["chunk_grid"]["configuration"]["chunk_shape"][0])
        self._cols = int(self._meta["shape"][1])
        self._codec = chunk_codec(self._meta)
        self._sep = separator(self._meta)
        self._tail = np.empty((0, self._cols)) if new else self._read_tail()

    def _read_tail(self) -> np.ndarray:
        """Rows already stored in the partial last chunk (they are rewritten with the new rows)."""
        keep = self.rows % self._crow
        if not keep:
            return np.empty((0, self._cols))
        index = self.rows // self._crow
        block = read_chunk(str(self.dir), index, self._crow, self._cols, self._codec, self._sep)
        if block is None:
            return np.full((keep, self._cols), np.nan)
        tail: np.ndarray = block[:keep].copy()
        return tail

    def append(self, block: np.ndarray) -> None:
        if (err := append_all([(self, block)])[0]) is not None:
            raise err

    def _append_zarr(self, block: np.ndarray) -> None:
        self._zarr.resize((self.rows + block.shape[0], block.shape[1]))
        self._zarr[self.rows:] = block
        self.rows += block.shape[0]

    def _chunks(self, block: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(chunk index, rows) of each chunk the append touches: views of ``block`` except
        the first, which re-encodes the stored partial chunk with the new rows."""
        pieces, pos = [], 0
        if self._tail.shape[0]:
            pos = min(self._crow - self._tail.shape[0], block.shape[0])
            pieces.append(np.concatenate((self._tail, block[:pos])))
        pieces += [block[i : i + self._crow] for i in range(pos, block.shape[0], self._crow)]
        return list(enumerate(pieces, start=self.rows // self._crow))

    def _advance(self, block: np.ndarray, last: np.ndarray) -> None:
        """The rows are published: take them and the partial tail as this array's state."""
        self.rows += block.shape[0]
        self._tail = last.copy() if last.shape[0] < self._crow else last[:0]
        self._meta["shape"] = [self.rows, self._cols]

    def _publish(self, rows: int) -> None:
        """zarr.json with ``rows`` rows (its chunks are on disk); the state moves only after."""
        meta = {**self._meta, "shape": [rows, self._cols]}
        write_bytes(self.dir / "zarr.json", json.dumps(meta, indent=2).encode())

    def _write_chunk(self, index: int, rows: np.ndarray) -> None:
        full = np.ascontiguousarray(rows, dtype="<f8")
        if rows.shape[0] < self._crow:
            full = np.full((self._crow, self._cols), np.nan)
            full[: rows.shape[0]] = rows
        data: memoryview | bytes = full.data if self._codec is None else self._codec.encode(full)
        path = Path(chunk_path(self.dir, index, self._sep))
        if index * self._crow < self.rows:  # the published shape covers it: readers may read it
            write_bytes(path, data)
        else:
            _write_unpublished(path, data, make_dir=self._new and not self.rows)
