"""Bulk creation of run records (e.g. a 1,000-task submission): one sync for all files.

Same guarantee as dii_hpc.store.atomic (temp file, durable, then rename: a reader never sees a
torn run.json), but the durability step is one os.sync() for the whole batch instead of one
fsync per file, which on shared filesystems is what made a 1,000-task submission slow.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.store import records
from dii_hpc.store.ids import new_run_id

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


def create_runs(store: Store, experiment: str, kind: str, params: list[dict[str, Any]],
                tags: dict[str, Any], status: str = "PENDING") -> list[str]:
    """One run per params dict; returns the run ids in the same order."""
    if kind not in vocab.KINDS:
        from dii_hpc.errors import StoreError

        raise StoreError(f"unknown run kind {kind!r}: expected one of {', '.join(vocab.KINDS)}")
    store.ensure_writable()
    base = store.runs_dir(experiment)
    base.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[str, str]] = []
    ids: list[str] = []
    try:
        for p in params:
            rid = new_run_id()
            rdir = base / rid
            rdir.mkdir()
            tmp = rdir / f".{records.RUN_FILE}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(compact(records.new_record(rid, experiment, kind, p, tags, status)))
            staged.append((str(tmp), str(rdir / records.RUN_FILE)))
            ids.append(rid)
        os.sync()  # every temp file is durable before any of them becomes visible
        for staged_tmp, final in staged:
            os.replace(staged_tmp, final)
    except BaseException:
        import shutil

        for rid in ids:
            shutil.rmtree(base / rid, ignore_errors=True)
        raise
    return ids


def compact(obj: Any) -> bytes:
    """JSON without indentation: the same content, written 3x faster for thousands of files."""
    from dii_hpc.store.atomic import dumps

    return dumps(obj, indent=None)
