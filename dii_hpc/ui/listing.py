"""An experiment's runs table kept in memory by a long-lived reader (`dii-hpc ui`, `dii-hpc top`).

`Store.runs` reads the compacted summary plus every run.json the summary does not cover; a
server answering a page of 50 runs cannot do that per request at 100,000 runs. `RunsCache`
holds the same rows (the same frame as `Store.runs`, built by the same `store.listing`
functions) and re-reads only what can have changed, by the store's own rules:

- ``summary.parquet`` is reloaded when its (inode, mtime, size) changes (compaction replaced it);
- ``runs/`` is listed again when its mtime changes (a run was created or removed);
- ``.changed/`` markers: a write to a run that had ended leaves one (`records.write_record`),
  so a run named by a new marker is read again; this is the rule compaction relies on;
- a run still PENDING or RUNNING is stat'ed on every refresh and read again when its run.json
  changed (the writer's heartbeat rewrites it): a live run is as fresh as with `Store.runs`.

A refresh of a 100,000-run experiment whose runs have ended therefore costs three stats and
a few per active run, instead of 100,000 opens.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.store import listing, records

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from dii_hpc.store.store import Store

Stamp = tuple[int, int, int] | None


def stamp(path: str | os.PathLike[str]) -> Stamp:
    """(inode, mtime ns, size) of a file or folder, None when absent: what says 'changed'."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class ExperimentRuns:
    """The runs frame of one experiment, refreshed incrementally (see the module docstring)."""

    def __init__(self, store: Store, experiment: str) -> None:
        self.store, self.experiment = store, experiment
        self.dir = store.experiment_dir(experiment)
        self.damaged: list[tuple[str, str]] = []
        self._summary: pd.DataFrame | None = None
        self._summary_ids: set[str] = set()
        self._stamps: dict[str, Stamp] = {}
        self._ids: list[str] = []
        self._markers: dict[str, list[str]] = {}
        self._rows: dict[str, tuple[Stamp, dict[str, Any]]] = {}  # read from run.json
        self._covered: set[str] = set()  # in the summary, no marker, present
        self._active: set[str] = set()   # to read, or still PENDING/RUNNING when read
        self._unreadable: dict[str, Stamp] = {}  # run.json stamp of a failed read
        self._frame: pd.DataFrame | None = None
        self._base: pd.DataFrame | None = None  # the ended runs, tidied
        self._base_stale = True
        self.version = 0  # bumped whenever the frame changed: a cheap 'anything new?' key

    def _changed(self, name: str, path: Path) -> bool:
        new = stamp(path)
        if name in self._stamps and self._stamps[name] == new:
            return False
        self._stamps[name] = new
        return True

    def refresh(self) -> bool:
        """Bring the rows up to date; True when the frame changed."""
        laid_out = False
        if self._changed("summary", self.dir / listing.SUMMARY_FILE):
            self._summary = listing.load_summary(self.dir)
            if self._summary is not None and "run_id" not in self._summary.columns:
                self._summary = None
            self._summary_ids = set(self._summary["run_id"]) if self._summary is not None else set()
            laid_out = True
        if self._changed("runs", self.dir / "runs"):
            self._ids = self.store.run_ids(self.experiment)
            laid_out = True
        if self._changed("markers", self.dir / records.CHANGED_DIR):
            markers = listing.changed_markers(self.dir)
            for rid, names in markers.items():
                if sorted(names) != sorted(self._markers.get(rid, [])):
                    self._rows.pop(rid, None)  # changed after it ended: read it again
            self._markers = markers
            laid_out = True
        if laid_out:
            self._lay_out()
        return self._read_active() or laid_out or self._frame is None

    def _lay_out(self) -> None:
        """Which runs the summary covers and which must be read (after a run was created or
        removed, a compaction, a marker): the only O(runs) step, and only on such changes."""
        self._base_stale = True
        present = set(self._ids)
        self._covered = (self._summary_ids - set(self._markers)) & present
        for rid in [r for r in self._rows if r not in present or r in self._covered]:
            del self._rows[rid]
        self._active = {rid for rid in self._ids
                        if rid not in self._covered and (rid not in self._rows
                                                         or not self._ended(rid))}

    def _ended(self, rid: str) -> bool:
        return vocab.is_terminal(self._rows[rid][1].get("status"))

    def _read_active(self) -> bool:
        """Read the runs not yet read, and those still active whose run.json changed; an ended
        run leaves this set (a later change leaves a marker)."""
        dirty = False
        for rid in sorted(self._active):
            held = self._rows.get(rid)
            now = stamp(self.dir / "runs" / rid / records.RUN_FILE)
            if (held[0] if held is not None else self._unreadable.get(rid, ())) == now:
                continue  # unchanged (or as unreadable as at the last look)
            row = self._read(rid)
            if row is None:
                self._unreadable[rid] = now
                dirty = dirty or self._rows.pop(rid, None) is not None
                continue
            self._unreadable.pop(rid, None)
            dirty = True
            self._rows[rid] = (now, row)
            if vocab.is_terminal(row.get("status")):
                self._active.discard(rid)  # it joins the ended runs
                self._base_stale = True
        return dirty

    def _read(self, rid: str) -> dict[str, Any] | None:
        self.store.damaged = []
        rec = listing.read_one(self.store, self.experiment, rid)
        row = None
        if rec is not None:
            try:
                row = records.flatten(rec)
            except (KeyError, TypeError, AttributeError) as err:
                self.store.damaged.append((rid, f"run.json malformed: {err}"))
        self.damaged = [d for d in self.damaged if d[0] != rid] + list(self.store.damaged)
        return row

    def frame(self) -> pd.DataFrame:
        """The runs of the experiment, as `Store.runs(experiment)` gives them, up to date.

        Two parts: the ended runs (summary rows plus ended records), rebuilt only when a run
        is created, removed or ends, the summary is replaced or a marker appears; and the
        active runs, a few rows joined to it whenever one of them changed (every heartbeat)."""
        if self.refresh():
            if self._base is None or self._base_stale:
                self._base = self._build_base()
                self._base_stale = False
            self._frame = self._join_active(self._base)
            self.version += 1
        assert self._frame is not None
        return self._frame

    def _build_base(self) -> pd.DataFrame:
        import pandas as pd

        frames: list[pd.DataFrame] = []
        if self._summary is not None and len(self._summary):
            frames.append(self._summary[self._summary["run_id"].isin(self._covered)])
        ended = [row for rid, (_, row) in self._rows.items() if rid not in self._active]
        if ended:
            frames.append(listing.rows_frame(ended))
        frames = [f for f in frames if len(f)]
        df = (pd.concat(frames, ignore_index=True) if frames
              else pd.DataFrame(columns=listing.BASE_COLUMNS))
        return listing.tidy(df)

    def _join_active(self, base: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        rows = [self._rows[rid][1] for rid in sorted(self._active) if rid in self._rows]
        if not rows:
            return base
        active = listing.tidy(listing.rows_frame(rows))
        df = pd.concat([active, base], ignore_index=True) if len(base) else active
        df = df[listing.column_order(df.columns)]
        if not df["run_id"].is_monotonic_decreasing:  # active runs are usually the newest
            df = df.sort_values("run_id", ascending=False, kind="stable").reset_index(drop=True)
        return df

    def active_ids(self) -> list[str]:
        """Runs whose run.json is stat'ed on every refresh (PENDING/RUNNING when last read)."""
        return sorted(self._active)


class RunsCache:
    """`ExperimentRuns` for every experiment of a store, safe to share between threads."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._by_exp: dict[str, ExperimentRuns] = {}
        self._lock = threading.Lock()

    def experiment(self, name: str) -> ExperimentRuns:
        """The cached table of ``name``; NotFound (with close names) for an unknown one."""
        with self._lock:
            held = self._by_exp.get(name)
            if held is None:
                self.store.check_experiment_exists(name)
                held = self._by_exp[name] = ExperimentRuns(self.store, name)
            return held

    def frame(self, name: str) -> pd.DataFrame:
        runs = self.experiment(name)
        with self._lock:
            return runs.frame()
