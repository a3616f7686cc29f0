"""Shard-level resume for level I suites: each finished attack is kept until the suite ends.

A suite is a list of independent shards (one attack, one eps of the curve, one poison
fraction). Each finished shard's record and arrays are written atomically under
`<store>/cache/audit-shards/<hash of the job>/`; a rerun of the same job (same config,
same suite) after a crash, preemption or Ctrl-C picks them up instead of starting over.
The directory is removed when the suite completes. The store, not the per-user cache: the
shards of `--executor slurm` are written by array tasks on compute nodes and read by the
merge, and only the store is sure to be shared (a cache may be node-local, e.g. in /tmp when
$HOME is read-only there).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.job import AuditJob


class Checkpoint:
    """Finished shards of one job; `root=None` disables it (level II/III, tests)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def load(self, key: str) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        if self.root is None or not (self.root / f"{key}.json").is_file():
            return None
        record = json.loads((self.root / f"{key}.json").read_text())
        arrays_path = self.root / f"{key}.npz"
        arrays = dict(np.load(arrays_path)) if arrays_path.is_file() else {}
        return record, arrays

    def save(self, key: str, record: dict[str, Any],
             arrays: dict[str, np.ndarray] | None = None) -> None:
        if self.root is None:
            return
        from dii_hpc.store.atomic import write_bytes

        self.root.mkdir(parents=True, exist_ok=True)
        if arrays:
            buf = io.BytesIO()
            named: dict[str, Any] = dict(arrays)  # names as keywords (numpy's stubs type them bool)
            np.savez(buf, **named)
            write_bytes(self.root / f"{key}.npz", buf.getvalue())
        # the record last: its presence marks the shard complete
        write_bytes(self.root / f"{key}.json", json.dumps(record).encode())

    def done(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.json")) if self.root else []

    def clear(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def for_job(job: AuditJob) -> Checkpoint:
    """The checkpoint of a level I job, keyed by everything that changes its numbers
    (`AuditJob.key`), in the store (`$DII_HPC_STORE`, which every array task is given)."""
    from dii_hpc.store.store import Store

    return Checkpoint(Store().root / "cache" / "audit-shards" / job.key()[:20])


def cached(ck: Checkpoint, key: str, fn: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run `fn() -> (record, arrays)` unless the shard `key` is already done."""
    hit = ck.load(key)
    if hit is not None:
        return hit
    record, arrays = fn()
    ck.save(key, record, arrays)
    return record, arrays
