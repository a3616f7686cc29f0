"""Version files: allocated by an exclusive create, filled by an atomic rename.

Registering is two steps, both safe for many writers on NFS or GlusterFS without a lock:
``O_CREAT|O_EXCL`` on ``versions/<N>.json`` claims number N (exactly one creator wins; the
others try N+1), then the content is written to a temp file and renamed over the claim. A
reader that finds the claim still empty (or holding only the placeholder) treats the version
as "being written" and skips it; it never sees half a record.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from dii_hpc.registry import layout
from dii_hpc.store.atomic import create_exclusive, dumps, write_bytes

_PLACEHOLDER_KEY = "_being_written"


def numbers(root: str | os.PathLike[str], name: str) -> list[int]:
    """Every claimed version number of ``name`` (complete or being written), ascending."""
    folder = layout.versions_dir(root, name)
    if not folder.is_dir():
        return []
    out = []
    for entry in os.scandir(folder):
        stem, dot, ext = entry.name.partition(".")
        if dot and ext == "json" and stem.isdigit() and not stem.startswith("0"):
            out.append(int(stem))
    return sorted(out)


def claim(root: str | os.PathLike[str], name: str, number: int) -> bool:
    """Claim version ``number`` (an exclusive create of its placeholder); False if taken."""
    folder = layout.versions_dir(root, name)
    folder.mkdir(parents=True, exist_ok=True)
    placeholder = json.dumps({_PLACEHOLDER_KEY: True, "pid": os.getpid(), **layout.who(),
                              "time": time.time()}).encode()
    return create_exclusive(folder / f"{int(number)}.json", placeholder)


def allocate(root: str | os.PathLike[str], name: str) -> int:
    """Claim the next free version number (1, 2, ...); concurrent callers get distinct ones."""
    candidate = max(numbers(root, name), default=0) + 1
    while not claim(root, name, candidate):
        candidate += 1
    return candidate


def fill(root: str | os.PathLike[str], name: str, version: int,
         record: dict[str, Any]) -> dict[str, Any]:
    """Write the content of a claimed ``version``; returns it with its name and number."""
    path = layout.version_file(root, name, version)
    full = {"name": name, "version": int(version), **record}
    try:
        write_bytes(path, dumps(full))
    except BaseException:
        path.unlink(missing_ok=True)  # give the number back rather than leave a dead claim
        raise
    return full


def register(root: str | os.PathLike[str], name: str, record: dict[str, Any]) -> dict[str, Any]:
    """Store ``record`` as the next version of ``name``; returns it with its ``version``."""
    return fill(root, name, allocate(root, name), record)


def read(root: str | os.PathLike[str], name: str, version: int) -> dict[str, Any] | None:
    """The version's record; None while it is being written (or absent)."""
    data = layout.read_settled(layout.version_file(root, name, version))
    if data is None:
        return None
    try:
        record = json.loads(data) if data else None
    except ValueError:
        return None  # a claim whose placeholder write has not landed yet
    if not isinstance(record, dict) or record.get(_PLACEHOLDER_KEY):
        return None
    return record


def complete(root: str | os.PathLike[str], name: str) -> list[dict[str, Any]]:
    """Every complete version of ``name``, ascending."""
    out = []
    for n in numbers(root, name):
        record = read(root, name, n)
        if record is not None:
            out.append(record)
    return out


def referenced_blobs(root: str | os.PathLike[str]) -> set[str]:
    """The weights blob of every complete version of every model: what `store gc` keeps even
    when no run names it any more (its run logged a newer artifact under the same name)."""
    out = set()
    for name in layout.model_names(root):
        for record in complete(root, name):
            sha = (record.get("weights") or {}).get("sha256")
            if sha:
                out.add(str(sha))
    return out
