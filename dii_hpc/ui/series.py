"""Metric histories for a plot: downsampled to the plot's width so that spikes survive.

A chart 600 pixels wide cannot show 10,000 points, and sending them costs the wire and the
browser. Evenly thinning would drop the one step where the loss exploded; here each of
``width`` buckets of consecutive points keeps its minimum and its maximum (in step order),
so every extreme is drawn. ``full`` gives every point; ``since`` only the points after a
step (a live page asks for what it has not seen yet).

Reads go through `Store.metric_array`; `ArrayStamps` says cheaply whether a run's arrays grew
(the writer rewrites an array's zarr.json, with its new shape, after each append).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dii_hpc.ui.listing import Stamp, stamp

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from dii_hpc.store.store import Store

DEFAULT_WIDTH = 600
MAX_WIDTH = 20_000


@dataclass
class Series:
    """What the API returns for one metric of one run."""

    key: str
    count: int            # points the run has stored (or after ``since``)
    steps: list[float]
    values: list[float]
    times: list[float] | None
    last_step: int | None  # the cursor a live page passes back as ``since``
    downsampled: bool

    def as_json(self) -> dict[str, Any]:
        out = {"key": self.key, "count": self.count, "points": len(self.steps),
               "downsampled": self.downsampled, "last_step": self.last_step,
               "steps": self.steps, "values": self.values}
        if self.times is not None:
            out["times"] = self.times
        return out


def minmax_indices(values: np.ndarray, width: int) -> np.ndarray:
    """Indices of the min and max of each of ``width`` buckets of consecutive points, in order.

    NaN never wins a bucket unless the whole bucket is NaN (a gap stays a gap)."""
    import numpy as np

    n = values.shape[0]
    size = -(-n // width)
    padded = np.full(size * width, np.nan)
    padded[:n] = values
    grid = padded.reshape(width, size)
    nan = np.isnan(grid)
    lo = np.where(nan, np.inf, grid).argmin(axis=1)
    hi = np.where(nan, -np.inf, grid).argmax(axis=1)
    base = np.arange(width) * size
    picks = np.concatenate([base + lo, base + hi])
    picks = np.unique(picks[picks < n])  # sorted: step order; a flat bucket gives one point
    return picks


def series(store: Store, run_id: str, key: str, width: int = DEFAULT_WIDTH, full: bool = False,
           since: float | None = None) -> Series:
    """One metric of a run, ready for a chart (see the module docstring)."""
    import numpy as np

    data = store.metric_array(run_id, key)
    last = int(data[-1, 0]) if data.shape[0] and np.isfinite(data[-1, 0]) else None
    if since is not None:
        data = data[data[:, 0] > since]
    n = int(data.shape[0])
    thin = not full and n > 2 * width
    if thin:
        data = data[minmax_indices(data[:, 1], width)]
    steps = data[:, 0]
    steps = np.where(np.isfinite(steps), steps, np.arange(len(steps)))
    return Series(key, n, _numbers(steps), data[:, 1].tolist(),
                  data[:, 2].tolist() if full else None, last, thin)


def _numbers(steps: np.ndarray) -> list[float]:
    """Steps are integers stored as float64: send them as integers (shorter, exact)."""
    return steps.astype("int64").tolist() if (steps == steps.astype("int64")).all() else steps.tolist()


class ArrayStamps:
    """Which metric arrays of a run changed since the last look (one stat per array)."""

    def __init__(self, store: Store, run_id: str) -> None:
        from dii_hpc.store.metrics import METRICS_DIR

        self.store, self.run_id = store, run_id
        self.root = os.path.join(store.run_dir(run_id), METRICS_DIR)
        self._seen: dict[str, Stamp] = {}
        self._tree: Stamp = None

    def changed(self, relist: bool = False) -> list[str]:
        """Keys whose array was appended to (or appeared) since the previous call.

        Keys are listed again when the metrics folder changed or ``relist`` is asked: a key
        nested in an existing group (``train/loss`` beside ``train/acc``) does not touch the
        folder's mtime, so the caller asks whenever run.json changed (every flush does)."""
        tree = stamp(self.root)
        if relist or tree != self._tree or not self._seen:
            self._tree = tree
            keys = self.store.metric_keys(self.run_id) if tree is not None else []
        else:
            keys = list(self._seen)
        out = []
        for key in keys:
            now = stamp(os.path.join(self.root, key, "zarr.json"))
            if now != self._seen.get(key):
                self._seen[key] = now
                out.append(key)
        return out
