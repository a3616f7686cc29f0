"""What `dii-hpc top` shows, without the terminal: rows, sparklines, a log tail.

Kept apart from the textual view (`ui/top.py`) so that it reads the store the way the web
server does (`RunsCache`, `series`, the API's log reader) and can be tested without a
terminal. Everything is read-only; a refresh re-reads only what changed (the cache's rules,
and one stat per shown run for its sparkline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dii_hpc.errors import BadInput, DiiError
from dii_hpc.ui.listing import RunsCache, Stamp, stamp

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from dii_hpc.store.store import Store

SHOWN = 200          # rows drawn at most (the filter narrows a big experiment)
SPARK_WIDTH = 24
BARS = "▁▂▃▄▅▆▇█"
LOG_LINES = 12
SORTS = ("run_id", "status", "metric", "duration_s")


def sparkline(values: list[float], width: int = SPARK_WIDTH) -> str:
    """Block characters for a history; the min and max of each bucket are kept (as in the
    web view's charts), so a spike shows."""
    import numpy as np

    from dii_hpc.ui.series import minmax_indices

    data = np.asarray(values, dtype="float64")
    if data.size > width:
        data = data[minmax_indices(data, max(1, width // 2))]
    finite = data[np.isfinite(data)]
    if not finite.size:
        return ""
    lo, hi = float(finite.min()), float(finite.max())
    span = hi - lo or 1.0
    return "".join(" " if not np.isfinite(v) else BARS[min(7, int((v - lo) / span * 8))]
                   for v in data)


def default_experiment(store: Store) -> str:
    """The experiment with the newest run (run ids sort by time): what a user just launched."""
    names = store.experiments()
    if not names:
        from dii_hpc.errors import StoreError

        raise StoreError(f"no experiments in the store at {store.root}")
    return max(names, key=lambda n: (store.run_ids(n)[-1:] or [""])[0])


@dataclass
class TopState:
    """The user's choices: which metric, which sort, which filter."""

    metric: str | None = None
    sort: str = "run_id"
    ascending: bool = False
    filter: str = ""
    error: str = ""


@dataclass
class Snapshot:
    """One read of the store: everything the view draws."""

    headers: list[str]
    rows: list[list[str]]
    ids: list[str]
    title: str
    error: str
    log_name: str
    log: str


@dataclass
class TopModel:
    store: Store
    experiment: str
    state: TopState = field(default_factory=TopState)
    cache: RunsCache | None = None
    _sparks: dict[tuple[str, str], tuple[Stamp, str]] = field(default_factory=dict)
    _keys: list[str] = field(default_factory=list)  # the metrics of the last read
    _head: pd.DataFrame | None = None               # a row of the last read (filter checks)

    def __post_init__(self) -> None:
        self.cache = self.cache or RunsCache(self.store)
        self.store.check_experiment_exists(self.experiment)

    def frame(self) -> pd.DataFrame:
        assert self.cache is not None
        return self.cache.frame(self.experiment)

    def metrics(self, frame: pd.DataFrame) -> list[str]:
        return sorted(c.removeprefix("metrics.") for c in frame.columns if c.startswith("metrics."))

    def view(self, selected: str | None) -> Snapshot:
        """Read the store once for the view (called in a worker thread: the keys never wait
        for a slow filesystem); ``selected``: the run whose log is shown."""
        headers, rows, ids, matched = self.rows()
        total, active = self.counts()
        name, text = self.log_tail(selected if selected in ids else (ids[0] if ids else None))
        return Snapshot(headers, rows, ids, self.title(matched, total, active),
                        self.state.error, name, text)

    def cycle_metric(self, step: int = 1) -> None:
        """The next metric of the last read (no store read: keys act at once)."""
        keys = self._keys
        if not keys:
            return
        at = keys.index(self.state.metric) if self.state.metric in keys else -step
        self.state.metric = keys[(at + step) % len(keys)]

    def cycle_sort(self) -> None:
        at = SORTS.index(self.state.sort) if self.state.sort in SORTS else -1
        self.state.sort = SORTS[(at + 1) % len(SORTS)]

    def set_filter(self, text: str) -> None:
        """Apply a `--filter` expression; a bad one is kept out and said in ``error``."""
        from dii_hpc.store.query import apply_filter

        text = text.strip()
        if text:
            try:
                head = self._head if self._head is not None else self.frame().head(1)
                apply_filter(head, text)
            except BadInput as err:
                self.state.error = str(err)
                return
        self.state.filter, self.state.error = text, ""

    def rows(self) -> tuple[list[str], list[list[str]], list[str], int]:
        """(headers, cells, run ids, runs matched) for the shown runs, in order."""
        from dii_hpc.cells import cell
        from dii_hpc.store.query import apply_filter, sort_runs

        df = self.frame()
        keys = self._keys = self.metrics(df)
        self._head = df.head(1)
        if self.state.metric not in keys:
            self.state.metric = keys[0] if keys else None
        if self.state.filter:
            df = apply_filter(df, self.state.filter)
        column = f"metrics.{self.state.metric}" if self.state.sort == "metric" else self.state.sort
        if len(df) and column in df.columns:
            df = sort_runs(df, column, ascending=self.state.ascending)
        shown = df.head(SHOWN)
        others = [k for k in keys if k != self.state.metric][:3]
        chosen = [self.state.metric] if self.state.metric else []
        headers = ["run", "status", *chosen, *others,
                   f"{self.state.metric or 'metric'} history"]
        rows, ids = [], []
        for rec in shown.to_dict("records"):
            rid = str(rec["run_id"])
            values = [cell(rec.get(f"metrics.{k}")) for k in chosen + others]
            rows.append([rid[-10:], str(rec.get("status") or ""), *values,
                         self.spark(rid)])
            ids.append(rid)
        return headers, rows, ids, len(df)

    def spark(self, rid: str) -> str:
        """The chosen metric's sparkline, read again only when its array changed."""
        import os

        from dii_hpc.store.metrics import METRICS_DIR

        key = self.state.metric
        if not key:
            return ""
        now = stamp(os.path.join(self.store.run_dir(rid), METRICS_DIR, key, "zarr.json"))
        held = self._sparks.get((rid, key))
        if held is not None and held[0] == now:
            return held[1]
        try:
            text = sparkline(self.store.metric_array(rid, key)[:, 1].tolist()) if now else ""
        except DiiError:
            text = ""
        self._sparks[(rid, key)] = (now, text)
        return text

    def log_tail(self, rid: str | None, lines: int = LOG_LINES) -> tuple[str, str]:
        """(name, last lines) of the run's first log (stdout first), as the web page shows."""
        from dii_hpc.ui import api

        if rid is None:
            return "", ""
        try:
            files = api.log_files(self.store, rid)
        except DiiError:
            return "", ""
        if not files:
            return "", "(no log files)"
        path = sorted(files, key=lambda p: (not p.name.startswith("stdout"), p.name))[0]
        text = api.tail(path, 8192)["text"]
        return path.name, "\n".join(text.splitlines()[-lines:])

    def title(self, matched: int, total: int, active: int) -> str:
        order = "asc" if self.state.ascending else "desc"
        sort = self.state.metric if self.state.sort == "metric" else self.state.sort
        parts = [f"{self.experiment}: {matched} of {total} runs, {active} active",
                 f"metric: {self.state.metric or '-'}", f"sort: {sort} {order}"]
        # The filter on a line of its own: in an 80-column terminal one line cut it off.
        return "  |  ".join(parts) + f"\nfilter: {self.state.filter or '-'}"

    def counts(self) -> tuple[int, int]:
        df = self.frame()
        return len(df), int(df["status"].isin(["PENDING", "RUNNING"]).sum()) if len(df) else 0

