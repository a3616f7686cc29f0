"""Row appends to one metric array, written as zarr v3 chunk files without zarr's event loop.

Why not ``arr.resize(); arr[start:] = block``: zarr's async write path costs ~150 ns a row and
hops between its event-loop thread and a pool, each hop taking the GIL away from the training
loop that logs the metrics (a background flush slowed that loop ~2x). An append to the one
layout ``create_metric_array`` makes is simple: re-encode the last partial chunk with the new
rows, write any new chunks, then publish the new shape in zarr.json. Chunks go first, so a
reader on another node never sees a row that is not on disk; every file is temp + fsync +
rename. Encoding runs in numcodecs (GIL released), so a background flush costs the logging
thread almost nothing. Arrays of any other layout are appended to through zarr itself.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.store.atomic import write_bytes
from dii_hpc.store.zstore import chunk_codec, fast_layout, open_with_zarr, read_chunk

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


def create_metric_files(root: Path, key: str) -> None:
    """The metadata of a new, empty array ``key`` under the group ``root`` (and any missing groups)."""
    parts = key.split("/")
    for depth in range(len(parts)):
        meta = root.joinpath(*parts[:depth]) / "zarr.json"
        if not meta.exists():
            write_bytes(meta, _templates()["group"])
    write_bytes(root / key / "zarr.json", _templates()["array"])


def _pool() -> ThreadPoolExecutor:
    """Chunk writes of one big flush overlap their fsyncs (created on first multi-chunk append)."""
    pid = os.getpid()
    if pid not in _POOL:
        _POOL.clear()
        _POOL[pid] = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dii-hpc-chunks")
    return _POOL[pid]


class ChunkAppender:
    """The single writer's view of one metric array: its row count and last partial chunk."""

    def __init__(self, array_dir: str | os.PathLike[str], rows: int) -> None:
        self.dir = Path(array_dir)
        self.rows = int(rows)
        with open(self.dir / "zarr.json", "rb") as fh:
            self._meta = json.loads(fh.read())
        self._zarr: Any = None
        if not fast_layout(self._meta):
            self._zarr = open_with_zarr(self.dir, mode="r+")
            return
        self._crow = int(self._meta["chunk_grid"]["configuration"]["chunk_shape"][0])
        self._cols = int(self._meta["shape"][1])
        self._codec = chunk_codec(self._meta)
        self._tail = self._read_tail()

    def _read_tail(self) -> np.ndarray:
        """Rows already stored in the partial last chunk (they are rewritten with the new rows)."""
        keep = self.rows % self._crow
        if not keep:
            return np.empty((0, self._cols))
        index = self.rows // self._crow
        block = read_chunk(str(self.dir), index, self._crow, self._cols, self._codec)
        if block is None:
            return np.full((keep, self._cols), np.nan)
        return block[:keep].copy()

    def append(self, block: np.ndarray) -> None:
        if self._zarr is not None:
            self._zarr.resize((self.rows + block.shape[0], block.shape[1]))
            self._zarr[self.rows:] = block
            self.rows += block.shape[0]
            return
        first = self.rows // self._crow
        jobs = list(enumerate(self._pieces(block), start=first))
        if len(jobs) == 1:
            self._write_chunk(*jobs[0])
        else:
            list(_pool().map(lambda job: self._write_chunk(*job), jobs))
        self.rows += block.shape[0]
        last = jobs[-1][1]
        self._tail = last.copy() if last.shape[0] < self._crow else last[:0]
        self._meta["shape"] = [self.rows, self._cols]
        write_bytes(self.dir / "zarr.json", json.dumps(self._meta, indent=2).encode())

    def _pieces(self, block: np.ndarray) -> list[np.ndarray]:
        """The rows of each chunk the append touches: views of ``block`` except the first."""
        pieces, pos = [], 0
        if self._tail.shape[0]:
            pos = min(self._crow - self._tail.shape[0], block.shape[0])
            pieces.append(np.concatenate((self._tail, block[:pos])))
        pieces += [block[i : i + self._crow] for i in range(pos, block.shape[0], self._crow)]
        return pieces

    def _write_chunk(self, index: int, rows: np.ndarray) -> None:
        full = np.ascontiguousarray(rows, dtype="<f8")
        if rows.shape[0] < self._crow:
            full = np.full((self._crow, self._cols), np.nan)
            full[: rows.shape[0]] = rows
        data = full.data if self._codec is None else self._codec.encode(full)
        write_bytes(self.dir / "c" / str(index) / "0", data)

