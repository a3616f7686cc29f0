"""`store check`: verify every run record, metric array and blob, the records of folders
other packages own (``store.owners``: a registered version whose weights are gone), and the
permissions.

Reports problems instead of raising, so one damaged run never hides the state of the rest.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dii_hpc import vocabulary as vocab
from dii_hpc.store import records
from dii_hpc.store.atomic import read_json

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

_REQUIRED = ("run_id", "experiment", "status", "params", "metrics")


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" (damaged data) or "warning" (unsafe permissions)
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


def _check_record(rdir: Path, exp: str) -> list[Problem]:
    try:
        rec = records.read_record(rdir)
    except (OSError, ValueError) as err:
        return [Problem("error", str(rdir / records.RUN_FILE), f"unreadable: {err}")]
    missing = [k for k in _REQUIRED if k not in rec]
    if missing:
        return [Problem("error", str(rdir / records.RUN_FILE), f"missing fields {', '.join(missing)}")]
    if rec["run_id"] != rdir.name or rec["experiment"] != exp:
        return [Problem("error", str(rdir / records.RUN_FILE), "run_id/experiment do not match its path")]
    if rec["status"] not in vocab.STATUSES:
        return [Problem("error", str(rdir / records.RUN_FILE), f"unknown status {rec['status']!r}")]
    gone = records.writer_gone(rec)
    if gone:  # it will never end by itself: `dii-hpc status` ends it FAILED
        return [Problem("error", str(rdir / records.RUN_FILE),
                        f"run {rec['run_id']} is left RUNNING but its writer is gone ({gone})")]
    return []


def _check_metrics(rdir: Path) -> list[Problem]:
    import numpy as np

    from dii_hpc.store.metrics import metric_keys, read_history

    out = []
    try:
        keys = metric_keys(rdir)
    except (OSError, ValueError) as err:
        return [Problem("error", str(rdir / "metrics.zarr"), f"unreadable: {err}")]
    for key in keys:
        try:
            data = read_history(rdir, key)
        except Exception as err:  # noqa: BLE001 - any decode failure is damage to report
            out.append(Problem("error", str(rdir / "metrics.zarr" / key), f"unreadable: {err}"))
            continue
        if data.shape[0] and np.isnan(data[:, 0]).any():
            out.append(Problem("error", str(rdir / "metrics.zarr" / key), "steps contain NaN"))
    return out


def _check_artifacts(rdir: Path, root: Path) -> list[Problem]:
    path = rdir / "artifacts.json"
    if not path.exists():
        return []
    try:
        arts = read_json(path)
    except (OSError, ValueError) as err:
        return [Problem("error", str(path), f"unreadable: {err}")]
    out = []
    for name, meta in arts.items():
        sha = meta.get("sha256", "")
        if not (root / "blobs" / "sha256" / sha[:2] / sha[2:]).exists():
            out.append(Problem("error", str(path), f"artifact {name!r}: blob {sha[:12]} is missing"))
    return out


def _check_blobs(root: Path) -> list[Problem]:
    out = []
    base = root / "blobs" / "sha256"
    for path in sorted(base.glob("*/*")) if base.is_dir() else []:
        if path.name.startswith("."):
            continue
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        if h.hexdigest() != path.parent.name + path.name:
            out.append(Problem("error", str(path), "content does not match its sha256 name"))
    return out


def _reachable(dirpath: str, root: Path) -> bool:
    """Can someone other than the owner enter every folder from the store root down to here?"""
    here = Path(dirpath)
    while True:
        if not os.stat(here).st_mode & (stat.S_IXGRP | stat.S_IXOTH):
            return False  # an owner-only folder on the way hides everything below it
        if here == root or here.parent == here:
            return True
        here = here.parent


def _check_permissions(root: Path) -> list[Problem]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            try:
                mode = os.lstat(p).st_mode
            except FileNotFoundError:
                continue
            if mode & stat.S_IWOTH and not stat.S_ISLNK(mode):
                out.append(Problem("warning", p, "world-writable"))
            if name.endswith(".pkl") and mode & (stat.S_IROTH | stat.S_IRGRP) and _reachable(dirpath, root):
                out.append(Problem("warning", p, "pickled job payload readable by others (chmod 600)"))
    return out


def check(store: Store, permissions: bool = True) -> list[Problem]:
    from dii_hpc.store import owners

    problems: list[Problem] = []
    for exp in store.experiments():
        for rid in store.run_ids(exp):
            rdir = store.run_path(exp, rid)
            problems += _check_record(rdir, exp)
            problems += _check_metrics(rdir)
            problems += _check_artifacts(rdir, store.root)
    problems += _check_blobs(store.root)
    problems += owners.check(store.root)
    if permissions:
        problems += _check_permissions(store.root)
    return problems
