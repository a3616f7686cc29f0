"""Garbage collection: unreferenced blobs and stale job folders.

Job folders hold submitit's pickled payloads and per-task logs; once every run of a
submission has ended and the folder is older than the cut-off, nothing reads it again.
A submission with no run of its own (an adaptive sweep's workers) is kept while its owner
(``launch.storefolder``) says its jobs may still be queued or running.
Blobs are only removed when no run's artifacts.json names them and they are older than the
cut-off too, so a blob written a moment before its artifacts.json is never lost.  Blobs
held by other records (the model registry's versions: a run that logs a new `model.pt` no
longer names the one registered) are kept too: the owners of those folders say which
(``store.owners``), whoever calls ``gc``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import BadInput, DamagedRun, DiiError, NotFound
from dii_hpc.store.atomic import read_json

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    """'7d', '12h', '30m', '0s' -> seconds."""
    text = text.strip().lower()
    try:
        if text[-1] in _UNITS:
            return float(text[:-1]) * _UNITS[text[-1]]
        return float(text)
    except (ValueError, IndexError) as err:
        raise BadInput(f"bad age {text!r}: use a number with s, m, h, d or w (e.g. 7d)") from err


def referenced_blobs(store: Store) -> set[str]:
    """Every blob some run's artifacts.json names.

    A run deleted meanwhile references nothing; an index that cannot be read stops the
    collection (DamagedRun): what it names is unknown, so no blob could be removed safely.
    """
    refs: set[str] = set()
    for exp in store.experiments():
        for rid in store.run_ids(exp):
            path = store.run_path(exp, rid) / "artifacts.json"
            try:
                refs.update(meta["sha256"] for meta in read_json(path).values())
            except FileNotFoundError:
                continue
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
                raise DamagedRun(f"run {rid}: unreadable artifacts.json ({err}); gc removed "
                                 "nothing (see `dii-hpc store check`)") from err
    return refs


def _newest_mtime(path: Path) -> float:
    newest = path.stat().st_mtime
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                newest = max(newest, os.stat(os.path.join(root, name)).st_mtime)
            except FileNotFoundError:
                continue
    return newest


def _runs_ended(store: Store, job_record: Path) -> bool:
    try:
        rids = list(read_json(job_record).get("runs", {}))
    except (OSError, ValueError, AttributeError):
        return False
    for rid in rids:
        try:
            if store.run(rid).get("status") not in vocab.TERMINAL:
                return False
        except NotFound:  # a deleted run no longer needs its job folder
            continue
        except DiiError:  # damaged or ambiguous: it may still be running, keep the folder
            return False
    return True


def gc(store: Store, older_than: float, dry_run: bool = False) -> dict[str, Any]:
    """Remove what nothing references (see the module doc)."""
    from dii_hpc.store import owners

    cutoff = time.time() - older_than
    removed_blobs, freed = [], 0
    refs = referenced_blobs(store) | owners.held_blobs(store.root)
    base = store.root / "blobs" / "sha256"
    for path in sorted(base.glob("*/*")) if base.is_dir() else []:
        sha = path.parent.name + path.name
        stale_tmp = path.name.startswith(".") and path.stat().st_mtime < cutoff
        if (sha not in refs and not path.name.startswith(".") and path.stat().st_mtime < cutoff) or stale_tmp:
            removed_blobs.append(sha)
            freed += path.stat().st_size
            if not dry_run:
                path.unlink(missing_ok=True)
    removed_jobs, kept_jobs = _job_folders(store, cutoff, dry_run)
    return {"blobs": removed_blobs, "bytes": freed, "job_folders": removed_jobs,
            "job_folders_in_use": kept_jobs, "dry_run": dry_run}


def _job_folders(store: Store, cutoff: float, dry_run: bool) -> tuple[list[str], list[str]]:
    """(folders removed, old folders kept because their owner says their jobs may still be
    queued or running: a submission with no run of its own, see ``launch.storefolder``)."""
    from dii_hpc.store import owners

    if not store.jobs_dir.is_dir():
        return [], []
    old = []
    for folder in sorted(p for p in store.jobs_dir.iterdir() if p.is_dir()):
        record = store.jobs_dir / f"{folder.name}.json"
        if _newest_mtime(folder) < cutoff and (not record.exists() or _runs_ended(store, record)):
            old.append(folder)
    live = owners.in_use(store.root, store.jobs_dir.name) if old else set()
    removed = [f.name for f in old if f.name not in live]
    if not dry_run:
        for f in old:
            if f.name not in live:
                shutil.rmtree(f, ignore_errors=True)
    return removed, [f.name for f in old if f.name in live]
