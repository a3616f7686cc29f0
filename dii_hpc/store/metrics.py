"""Metric arrays of one run: appends from the single writer, history for any reader.

Layout: ``<run>/metrics.zarr`` is a zarr v3 group; a key ``train/loss`` is the array at that
path, shape (n, 3) float64 with columns step, value, time. The writer writes chunks before
the shape that publishes them (store/appender.py); arrays written through zarr's resize-then-
write may hold trailing rows whose time is NaN (never written): ``committed_rows`` drops
them, and a resumed writer overwrites them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.store.zstore import committed_rows, read_array

METRICS_DIR = "metrics.zarr"


def metric_keys(run_dir: str | os.PathLike[str]) -> list[str]:
    """Keys of all metric arrays, found on disk (no zarr import, no metadata walk)."""
    root = Path(run_dir) / METRICS_DIR
    keys = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if "zarr.json" in filenames and dirpath != str(root):
            with open(os.path.join(dirpath, "zarr.json"), "rb") as fh:
                if json.loads(fh.read()).get("node_type") == "array":
                    keys.append(os.path.relpath(dirpath, root).replace(os.sep, "/"))
                    dirnames[:] = []  # an array's own "c/" chunk folder holds no keys
    return sorted(keys)


def read_history(run_dir: str | os.PathLike[str], key: str) -> np.ndarray:
    return committed_rows(read_array(Path(run_dir) / METRICS_DIR / key))


def summarize(data: np.ndarray, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Last/min/max/step/count of a block, merged into what earlier blocks gave."""
    vals = data[:, 1]
    finite = vals[np.isfinite(vals)]
    out = dict(previous or {"min": None, "max": None, "count": 0})
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        out["min"] = lo if out["min"] is None else min(out["min"], lo)
        out["max"] = hi if out["max"] is None else max(out["max"], hi)
    out["last"] = float(vals[-1])
    out["step"] = int(data[-1, 0])
    out["count"] = int(out["count"]) + int(data.shape[0])
    return out


def _resolve_steps(steps: np.ndarray, last: int) -> np.ndarray:
    """Replace auto steps (NaN: logged with step=None) by last+1, last+2, ... in order."""
    auto = np.isnan(steps)
    if not auto.any():
        return steps
    if auto.all():
        return np.arange(last + 1, last + 1 + steps.size, dtype="float64")
    out: np.ndarray = steps.copy()
    for i in range(out.size):  # mixed explicit/auto steps: rare, keep it simple
        if auto[i]:
            out[i] = last + 1
        last = int(out[i])
    return out


class MetricWriter:
    """The one writer of a run's metric arrays; not thread-safe (the Run serialises flushes).

    Rows it could not write (a full disk, a network filesystem's hiccup) stay ``pending``, in
    order, and are written first by the next append: an error loses no point, and a retried
    row is stored once (a failed array append changes nothing, see store/appender.py).
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.root = Path(run_dir) / METRICS_DIR
        self._appenders: dict[str, Any] = {}
        self._rows: dict[str, int] = {}
        self._last_step: dict[str, int] = {}
        self._watermark: dict[str, int] = {}
        self.summary: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, np.ndarray] = {}  # accepted rows not on disk yet, per key
        self._groups: set[Path] = set()  # group zarr.json files known to exist

    def resume(self) -> None:
        """Load what a previous attempt stored so steps continue and are never duplicated."""
        for key in metric_keys(self.root.parent):
            data = read_history(self.root.parent, key)
            self._rows[key] = int(data.shape[0])
            if data.shape[0]:
                self._last_step[key] = int(np.nanmax(data[:, 0]))
                self._watermark[key] = self._last_step[key]
                self.summary[key] = summarize(data)

    def stored_keys(self) -> list[str]:
        return list(self._rows)

    def _appender(self, key: str) -> Any:
        app = self._appenders.get(key)
        if app is not None:
            return app
        from dii_hpc.store.appender import ChunkAppender

        new = key not in self._rows  # its groups go with its first chunks (`_write_pending`)
        if new:
            self._rows[key] = 0
        app = self._appenders[key] = ChunkAppender(self.root / key, self._rows[key], new=new)
        return app

    def append(self, key: str, block: np.ndarray) -> int:
        """Append one key's rows (step, value, time; NaN step: auto); returns how many were
        taken (the steps an earlier attempt stored are not)."""
        return self.append_many({key: block})[key]

    @property
    def pending_rows(self) -> int:
        return sum(int(rows.shape[0]) for rows in self.pending.values())

    def append_many(self, blocks: dict[str, np.ndarray]) -> dict[str, int]:
        """`append` for several keys at once, their file writes overlapped (`append_all`):
        a flush of many keys waits for one round of fsyncs, not one per key.

        Rows still pending from a failed call go first.  When a write fails, the rows of the
        keys it hit stay pending, every other key's are stored, and the first error is raised."""
        kept = {key: self._new_rows(key, block) for key, block in blocks.items()}
        for key, block in kept.items():
            if block.shape[0]:
                self._last_step[key] = int(block[-1, 0])  # auto steps go on from accepted rows
                before = self.pending.get(key)
                self.pending[key] = block if before is None else np.concatenate((before, block))
        if self.pending:
            self._write_pending()
        return {key: int(block.shape[0]) for key, block in kept.items()}

    def _write_pending(self) -> None:
        from dii_hpc.store.appender import append_all, group_writes

        todo = self.pending
        metas, groups = group_writes(self.root, [k for k in todo if not self._rows.get(k)],
                                     self._groups)  # keys with no row published yet
        errors = append_all([(self._appender(key), block) for key, block in todo.items()],
                            first=groups)
        if not groups or not any(errors):  # a failed group write fails every array of the flush
            self._groups.update(metas)
        for (key, block), err in zip(list(todo.items()), errors, strict=True):
            if err is None:
                del self.pending[key]
                self._rows[key] = self._appenders[key].rows
                self.summary[key] = summarize(block, self.summary.get(key))
        if first := next((err for err in errors if err is not None), None):
            raise first

    def _new_rows(self, key: str, block: np.ndarray) -> np.ndarray:
        """``block`` with auto steps resolved, less the steps a previous attempt stored."""
        block[:, 0] = _resolve_steps(block[:, 0], self._last_step.get(key, -1))
        mark = self._watermark.get(key)
        if mark is not None:
            block = block[block[:, 0] > mark]
        return block
