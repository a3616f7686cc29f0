"""Compaction: finished runs folded into one columnar file per experiment.

Safe to run from cron while jobs write: only terminal runs are folded in, the file is
replaced atomically, and a changed-run marker is removed only if it was seen before the
records were read (a marker written during compaction survives to the next one).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.store import records
from dii_hpc.store.listing import (
    BASE_COLUMNS,
    SUMMARY_FILE,
    changed_markers,
    fresh_rows,
    load_summary,
    rows_frame,
)
from dii_hpc.store.summary_file import write_summary

if TYPE_CHECKING:  # pragma: no cover

    from dii_hpc.store.store import Store

def compact(store: Store, experiment: str) -> dict[str, Any]:
    """Fold new or changed finished runs into the summary; returns counts for the CLI."""
    import pandas as pd

    t0 = time.perf_counter()
    store.check_experiment_exists(experiment)
    store.ensure_writable()
    edir = store.experiment_dir(experiment)
    markers = changed_markers(edir)
    old = load_summary(edir)
    if old is not None and "run_id" not in old.columns:
        old = None  # an empty or foreign file: rebuild it
    present = set(store.run_ids(experiment))
    keep = old[old["run_id"].isin(present - set(markers))] if old is not None else None
    covered = set(keep["run_id"]) if keep is not None else set()
    store.damaged = []
    new = [r for r in fresh_rows(store, experiment, covered) if r["status"] in vocab.TERMINAL]
    frames = [f for f in (keep, rows_frame(new)) if f is not None and len(f)]
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=BASE_COLUMNS)
    if len(new) or old is None or len(merged) != len(old):
        write_summary(edir / SUMMARY_FILE, merged)
    absorbed = {r["run_id"] for r in new}
    for rid, names in markers.items():
        if rid in absorbed or rid not in present:
            for name in names:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(edir / records.CHANGED_DIR / name)
    return {
        "experiment": experiment,
        "added": len(new),
        "total": len(merged),
        "damaged": list(store.damaged),
        "seconds": time.perf_counter() - t0,
    }
