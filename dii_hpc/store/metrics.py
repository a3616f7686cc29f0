"""Metric arrays of one run: appends from the single writer, history for any reader.

Layout: ``<run>/metrics.zarr`` is a zarr v3 group; a key ``train/loss`` is the array at that
path, shape (n, 3) float64 with columns step, value, time. The writer writes chunks before
the shape that publishes them (store/appender.py); arrays written through zarr's resize-then-
write may hold trailing rows whose time is NaN (never written): ``committed_rows`` drops
them, and a resumed writer overwrites them.
"""

from __future__ import annotations

import json
import math
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
    out = steps.copy()
    for i in range(out.size):  # mixed explicit/auto steps: rare, keep it simple
        if auto[i]:
            out[i] = last + 1
        last = int(out[i])
    return out


class MetricWriter:
    """The one writer of a run's metric arrays; not thread-safe (the Run serialises flushes)."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.root = Path(run_dir) / METRICS_DIR
        self._appenders: dict[str, Any] = {}
        self._rows: dict[str, int] = {}
        self._last_step: dict[str, int] = {}
        self._watermark: dict[str, int] = {}
        self.summary: dict[str, dict[str, Any]] = {}
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

        new = key not in self._rows  # its groups were made by append_many
        if new:
            self._rows[key] = 0
        app = self._appenders[key] = ChunkAppender(self.root / key, self._rows[key], new=new)
        return app

    def append(self, key: str, block: np.ndarray) -> int:
        """Append one key's rows (step, value, time; NaN step: auto); returns how many were stored."""
        return self.append_many({key: block})[key]

    def append_many(self, blocks: dict[str, np.ndarray]) -> dict[str, int]:
        """`append` for several keys at once, their file writes overlapped (`append_all`):
        a flush of many keys waits for one round of fsyncs, not one per key."""
        from dii_hpc.store.appender import append_all, create_metric_groups

        kept = {key: self._new_rows(key, block) for key, block in blocks.items()}
        filled = {key: block for key, block in kept.items() if block.shape[0]}
        create_metric_groups(self.root, [k for k in filled if k not in self._rows], self._groups)
        append_all([(self._appender(key), block) for key, block in filled.items()])
        for key, block in filled.items():
            steps = block[:, 0]
            self._rows[key] = self._appenders[key].rows
            self._last_step[key] = int(steps[-1]) if math.isfinite(steps[-1]) else -1
            self.summary[key] = summarize(block, self.summary.get(key))
        return {key: int(block.shape[0]) for key, block in kept.items()}

    def _new_rows(self, key: str, block: np.ndarray) -> np.ndarray:
        """``block`` with auto steps resolved, less the steps a previous attempt stored."""
        block[:, 0] = _resolve_steps(block[:, 0], self._last_step.get(key, -1))
        mark = self._watermark.get(key)
        if mark is not None:
            block = block[block[:, 0] > mark]
        return block
