"""A model's history: alias moves, archives and promotion decisions, one file per event.

Appending never rewrites a shared file (two promotions at once cannot lose each other's
record): each event is its own file named by time and a random suffix, written atomically.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from dii_hpc.registry import layout
from dii_hpc.store.atomic import read_json, write_json


def append(root: str | os.PathLike[str], name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Record ``event`` (a dict with at least "event") with its time, user and host."""
    now = time.time()
    full = {**event, "time": now, **layout.who()}
    folder = layout.events_dir(root, name)
    write_json(folder / f"{time.time_ns():020d}-{secrets.token_hex(4)}.json", full)
    return full


def read_all(root: str | os.PathLike[str], name: str) -> list[dict[str, Any]]:
    """Every event of ``name`` in the order they were written."""
    folder = layout.events_dir(root, name)
    if not folder.is_dir():
        return []
    out = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.name.endswith(".json"):
            continue
        try:
            out.append(read_json(entry.path))
        except (OSError, ValueError):
            continue
    return out


def archived(events: list[dict[str, Any]]) -> set[int]:
    """Versions whose last archive/restore event archived them."""
    state: dict[int, bool] = {}
    for e in events:
        if e.get("event") in ("archive", "restore"):
            state[int(e["version"])] = e["event"] == "archive"
    return {v for v, on in state.items() if on}
