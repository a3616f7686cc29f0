"""Listing runs fast: compacted summary + the run records newer than it.

Reading 10,000 run.json files on NFS means 10,000 opens; ``store compact`` folds finished
runs into ``summary.parquet`` so a listing reads one columnar file plus only the runs that
are new or changed since (changed runs leave a marker under ``.changed/``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.store import records

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from dii_hpc.store.store import Store

SUMMARY_FILE = "summary.parquet"
BASE_COLUMNS = ["run_id", "experiment", "kind", "status", "start_time", "end_time", "duration_s"]
_GROUP_ORDER = ("params.", "metrics.", "tags.", "slurm.")


def changed_markers(exp_dir: Path) -> dict[str, list[str]]:
    """run_id -> marker file names left by writers that changed an already-finished run."""
    mdir = exp_dir / records.CHANGED_DIR
    out: dict[str, list[str]] = {}
    if mdir.is_dir():
        for entry in os.scandir(mdir):
            out.setdefault(entry.name.split(".")[0], []).append(entry.name)
    return out


def load_summary(exp_dir: Path) -> pd.DataFrame | None:
    path = exp_dir / SUMMARY_FILE
    if not path.exists():
        return None
    from dii_hpc.store.summary_file import read_summary

    return read_summary(path)


def read_one(store: Store, exp: str, rid: str) -> dict[str, Any] | None:
    rdir = store.root / "experiments" / exp / "runs" / rid
    try:
        rec = records.read_record(rdir)
        if not isinstance(rec, dict) or rec.get("run_id") != rid:
            raise ValueError("run_id field does not match its directory")
        return rec
    except FileNotFoundError:
        return None  # created a moment ago and not yet written, or removed meanwhile
    except (OSError, ValueError, KeyError) as err:
        store.damaged.append((rid, f"run.json unreadable: {err}"))
        return None


def read_records(store: Store, exp: str) -> list[dict[str, Any]]:
    out = []
    for rid in store.run_ids(exp):
        rec = read_one(store, exp, rid)
        if rec is not None:
            out.append(rec)
    return out


def fresh_rows(store: Store, exp: str, skip: set[str]) -> list[dict[str, Any]]:
    rows = []
    for rid in store.run_ids(exp):
        if rid in skip:
            continue
        rec = read_one(store, exp, rid)
        if rec is not None:
            try:
                rows.append(records.flatten(rec))
            except (KeyError, TypeError, AttributeError) as err:
                store.damaged.append((rid, f"run.json malformed: {err}"))
    return rows


def runs_frame(store: Store, exps: list[str], kind: str | None) -> pd.DataFrame:
    import pandas as pd

    frames: list[pd.DataFrame] = []
    rows: list[dict[str, Any]] = []
    for exp in exps:
        edir = store.experiment_dir(exp)
        summary = load_summary(edir)
        covered: set[str] = set()
        if summary is not None and len(summary):
            changed = set(changed_markers(edir))
            present = set(store.run_ids(exp))
            keep = summary[summary["run_id"].isin(present - changed)]
            covered = set(keep["run_id"])
            frames.append(keep)
        rows.extend(fresh_rows(store, exp, covered))
    if rows:
        frames.append(rows_frame(rows))
    frames = [f for f in frames if len(f)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=BASE_COLUMNS)
    return tidy(df, kind)


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Flattened records as a frame, every param as it was logged.

    pandas makes a column of ints with gaps float (a ``fold`` of 1 would read back 1.0, and
    MLflow's ``params.fold = '1'`` would find nothing); such a param column keeps its values
    (ints, None where a run lacks the param)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    for col in frame.columns:
        if (str(col).startswith("params.") and frame[col].dtype.kind == "f"
                and any(type(row.get(col)) is int for row in rows)):
            frame[col] = pd.Series([row.get(col) for row in rows], index=frame.index, dtype=object)
    return frame


def tidy(df: pd.DataFrame, kind: str | None = None) -> pd.DataFrame:
    import pandas as pd

    if kind is not None:
        df = df[df["kind"] == kind]
    for col in ("start_time", "end_time"):
        df[col] = pd.to_datetime(pd.to_numeric(df[col], errors="coerce"), unit="s", utc=True)
    df["duration_s"] = pd.to_numeric(df["duration_s"], errors="coerce")
    df = df[column_order(df.columns)]
    return df.sort_values("run_id", ascending=False, kind="stable").reset_index(drop=True)


def column_order(columns: Any) -> list[str]:
    """The listing's columns in order: run fields, then params.*, metrics.*, tags.*, slurm.*,
    each group sorted (one rule for `tidy` and for readers that join tidied frames)."""
    extra = [c for c in columns if c not in BASE_COLUMNS]
    extra.sort(key=lambda c: (_group(c), c))
    return BASE_COLUMNS + extra


def _group(col: str) -> int:
    for i, prefix in enumerate(_GROUP_ORDER):
        if col.startswith(prefix):
            return i
    return len(_GROUP_ORDER)
