"""Aliases (``champion``, ``staging``): one small file each, moved by one atomic rename.

A reader during any number of concurrent moves opens either the old file or the new one, so
``models:/NAME@ALIAS`` always resolves to a complete version (GlusterFS's FUSE client may
briefly call the name missing or stale during a rename: ``layout.read_settled`` looks again).
The move itself is recorded in
the model's event log (see ``events``), which is where the alias history comes from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dii_hpc.registry import events, layout
from dii_hpc.store.atomic import write_json


def _read(path: Path) -> int | None:
    data = layout.read_settled(path)
    return None if data is None else int(json.loads(data)["version"])


def get(root: str | os.PathLike[str], name: str, alias: str) -> int | None:
    """The version ``alias`` points at, or None when no version holds it."""
    return _read(layout.aliases_dir(root, name) / f"{layout.check_alias(alias)}.json")


def all_of(root: str | os.PathLike[str], name: str) -> dict[str, int]:
    """alias -> version for every alias of ``name``."""
    folder = layout.aliases_dir(root, name)
    if not folder.is_dir():
        return {}
    out = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        stem, _, ext = entry.name.rpartition(".")
        if ext != "json" or entry.name.startswith("."):
            continue
        try:
            version = _read(Path(entry.path))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if version is not None:
            out[stem] = version
    return out


def move(root: str | os.PathLike[str], name: str, alias: str, version: int,
         reason: str | None = None) -> dict[str, Any]:
    """Point ``alias`` at ``version`` (one atomic write) and record the move; returns the event."""
    layout.check_alias(alias)
    previous = get(root, name, alias)
    write_json(layout.aliases_dir(root, name) / f"{alias}.json",
               {"alias": alias, "version": int(version), **layout.who()})
    return events.append(root, name, {"event": "alias", "alias": alias, "version": int(version),
                                      "previous": previous, "reason": reason})


def history(all_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alias moves among a model's events, oldest first."""
    return [e for e in all_events if e.get("event") == "alias"]
