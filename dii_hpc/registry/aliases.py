"""Aliases (``champion``, ``staging``): one small file each, moved by one atomic rename.

A reader during any number of concurrent moves opens either the old file or the new one, so
``models:/NAME@ALIAS`` always resolves to a complete version. The move itself is recorded in
the model's event log (see ``events``), which is where the alias history comes from.
"""

from __future__ import annotations

import os
from typing import Any

from dii_hpc.registry import events, layout
from dii_hpc.store.atomic import read_json, write_json


def get(root: str | os.PathLike[str], name: str, alias: str) -> int | None:
    """The version ``alias`` points at, or None when no version holds it."""
    path = layout.aliases_dir(root, name) / f"{layout.check_alias(alias)}.json"
    try:
        return int(read_json(path)["version"])
    except FileNotFoundError:
        return None


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
            out[stem] = int(read_json(entry.path)["version"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
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
