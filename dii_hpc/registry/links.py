"""Runs attached to a version: the audits of it and the deployments (inference jobs) that used it.

One small file per link under ``links/<version>/``: attaching from many jobs at once needs no
lock and cannot lose a link.
"""

from __future__ import annotations

import os
import time
from typing import Any

from dii_hpc.registry import layout
from dii_hpc.store.atomic import read_json, write_json

KINDS = ("audit", "deployment")


def attach(root: str | os.PathLike[str], name: str, version: int, kind: str, run_id: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown link kind {kind!r}")
    path = layout.links_dir(root, name, version) / f"{kind}-{run_id}.json"
    write_json(path, {"kind": kind, "run_id": run_id, "version": int(version), "time": time.time()})


def of(root: str | os.PathLike[str], name: str, version: int,
       kind: str | None = None) -> list[dict[str, Any]]:
    """Links of ``version`` (of one ``kind`` if given), oldest first."""
    folder = layout.links_dir(root, name, version)
    if not folder.is_dir():
        return []
    out = []
    for entry in os.scandir(folder):
        if entry.name.startswith(".") or not entry.name.endswith(".json"):
            continue
        if kind is not None and not entry.name.startswith(f"{kind}-"):
            continue
        try:
            out.append(read_json(entry.path))
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda link: (link.get("time", 0), link.get("run_id", "")))
