"""Merging stores (e.g. two clusters' stores after rsync) without duplicating runs or blobs.

Run ids are globally unique, so a run present in both stores is the same run: the copy
whose record is further along wins (terminal over active, then later end/start time).
Blobs are content-addressed, so a blob already in the destination is never copied again.
Each run directory is copied under a temporary name and renamed into place.

Every other top-level folder (drift ``monitors/``, registry ``models/``, whatever a later
version adds) is merged file by file: a file missing in the destination is copied, one in both
is replaced only by a newer source copy.  A folder whose files mean more than their bytes (the
registry's numbered versions) is merged by its owner (``store.owners``, consulted whoever
calls ``merge``), which uses that same file rule for whatever it does not know.  A source that
is not a store (no folder of the store's own) is refused.  Left behind on purpose: ``site/`` and ``cache/``
(derived, rebuilt from the runs), ``jobs/`` (submission records whose job ids mean nothing to
the destination's scheduler), the store's own settings file and hidden temporaries.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import BadInput, StoreError
from dii_hpc.store import records
from dii_hpc.store.owners import FolderMerger

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


def _progress(rec: dict[str, Any]) -> tuple[int, float, float]:
    done = 1 if rec.get("status") in vocab.TERMINAL else 0
    return (done, rec.get("end_time") or 0.0, rec.get("start_time") or 0.0)


def _copy_tree(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.tmp")
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(".*.tmp"))
    if dst.exists():
        old = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.old")
        os.replace(dst, old)
        os.replace(tmp, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, dst)


def merge(src: Store, dst: Store, dry_run: bool = False) -> dict[str, Any]:
    """Bring every run, blob and store folder of ``src`` into ``dst``; returns what was (or would
    be) copied: run and blob counts, ``folders``: {top-level folder: files copied}, and
    ``notes`` from the folders' owners (renumbered versions, aliases kept and dropped)."""
    from dii_hpc.store import owners
    from dii_hpc.store.summary import compact

    if src.root == dst.root:
        raise BadInput(f"cannot merge store {src.root} into itself")
    _check_source(src.root)
    mergers = owners.mergers()
    if not dry_run:
        dst.ensure_writable()
    stats: dict[str, Any] = {"runs_copied": 0, "runs_updated": 0, "runs_skipped": 0, "blobs_copied": 0}
    touched: set[str] = set()
    for exp in src.experiments():
        for rid in src.run_ids(exp):
            action = _merge_run(src, dst, exp, rid, dry_run)
            stats[action] += 1
            if action != "runs_skipped":
                touched.add(exp)
    stats["blobs_copied"] = _merge_blobs(src.root, dst.root, dry_run)
    stats["folders"], stats["notes"] = _merge_folders(src.root, dst.root, dry_run, mergers)
    if not dry_run:
        for exp in sorted(touched):
            if (dst.experiment_dir(exp) / "summary.parquet").exists():
                compact(dst, exp)
    return stats


def _check_source(root: Path) -> None:
    """A store has one of its own folders or its settings file (an MLflow ``mlruns`` folder
    has a ``models/`` too: folders other packages keep say nothing)."""
    from dii_hpc.store.settings import SETTINGS_FILE

    if not root.is_dir():
        raise StoreError(f"source store {root} does not exist")
    marks = {"experiments", "blobs", "jobs"}
    if not (any((root / name).is_dir() for name in marks) or (root / SETTINGS_FILE).is_file()):
        raise StoreError(f"{root} is not a dii-hpc store (it has none of "
                         f"{', '.join(f'{m}/' for m in sorted(marks))}); nothing was merged")


def _merge_run(src: Store, dst: Store, exp: str, rid: str, dry_run: bool) -> str:
    sdir = src.run_path(exp, rid)
    ddir = dst.run_path(exp, rid)
    try:
        srec = records.read_record(sdir)
    except (OSError, ValueError):
        return "runs_skipped"  # damaged in the source: `store check` reports it
    if (ddir / records.RUN_FILE).exists():
        try:
            drec = records.read_record(ddir)
        except (OSError, ValueError):
            drec = {}
        if _progress(srec) <= _progress(drec):
            return "runs_skipped"
        if not dry_run:
            _copy_tree(sdir, ddir)
            records.write_record(ddir, records.read_record(ddir), was_terminal=True)
        return "runs_updated"
    if not dry_run:
        ddir.parent.mkdir(parents=True, exist_ok=True)
        _copy_tree(sdir, ddir)
    return "runs_copied"


def _merge_blobs(src_root: Path, dst_root: Path, dry_run: bool) -> int:
    base = src_root / "blobs" / "sha256"
    copied = 0
    if not base.is_dir():
        return 0
    for path in base.glob("*/*"):
        if path.name.startswith("."):
            continue
        target = dst_root / "blobs" / "sha256" / path.parent.name / path.name
        if target.exists():
            continue
        copied += 1
        if not dry_run:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
            shutil.copyfile(path, tmp)
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
    return copied


NOT_MERGED = frozenset({"experiments", "blobs", "site", "cache", "jobs"})  # see the module doc


def _merge_folders(src_root: Path, dst_root: Path, dry_run: bool,
                   mergers: Mapping[str, FolderMerger]) -> tuple[dict[str, int], list[str]]:
    copied: dict[str, int] = {}
    notes: list[str] = []

    def copy(path: Path, target: Path) -> bool:
        return _merge_file(path, target, dry_run)

    for top in sorted(src_root.iterdir()):
        if top.name in NOT_MERGED or top.name.startswith(".") or not top.is_dir() or top.is_symlink():
            continue
        if top.name in mergers:
            n, more = mergers[top.name](top, dst_root / top.name, dry_run, copy)
            notes += more
        else:
            n = sum(copy(path, dst_root / path.relative_to(src_root))
                    for path in sorted(top.rglob("*"))
                    if path.is_file() and not path.is_symlink()
                    and not any(part.startswith(".") for part in path.relative_to(top).parts))
        if n:
            copied[top.name] = n
    return copied, notes


def _merge_file(path: Path, target: Path, dry_run: bool) -> bool:
    """Copy ``path`` to ``target`` unless the target is there and at least as new."""
    if target.exists() and target.stat().st_mtime >= path.stat().st_mtime:
        return False
    if not dry_run:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        shutil.copy2(path, tmp)
        with open(tmp, "rb+") as fh:  # on disk before the rename publishes it
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    return True
