"""Store-wide sharing settings: which group owns it and the umask its writers use.

A lab shares one store: files must be group-readable (and group-writable where colleagues
reorganise), never world-writable; job folders that hold pickled payloads stay owner-only
(``jobs/<id>/`` folders are created 0700 by the launcher via ``private_dir``). The settings
live in ``<store>/store.json`` so that every writer on every node applies the same ones.
"""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path
from typing import Any

from dii_hpc.errors import BadInput, StoreError
from dii_hpc.store.atomic import read_json, write_json

SETTINGS_FILE = "store.json"
DEFAULT_UMASK = 0o007  # group rw, others nothing


def read_settings(root: Path) -> dict[str, Any]:
    path = root / SETTINGS_FILE
    if not path.exists():
        return {}
    try:
        settings: dict[str, Any] = read_json(path)
    except (OSError, ValueError) as err:
        raise StoreError(f"{path}: unreadable store settings ({err})") from err
    return settings


def apply_umask(root: Path) -> int:
    """Use the store's umask in this process; never let others write, whatever the caller had."""
    configured = read_settings(root).get("umask")
    current = os.umask(0)
    mask = int(str(configured), 8) if configured is not None else current
    mask |= 0o002
    os.umask(mask)
    return mask


def init_store(root: Path, group: str | None, umask: str | None) -> dict[str, Any]:
    """Create (or re-configure) a store for a group: setgid dirs so new files inherit it."""
    settings: dict[str, Any] = {}
    if umask is not None:
        try:
            value = int(umask, 8)
        except ValueError as err:
            raise BadInput(f"bad --umask {umask!r}: give an octal number such as 0027") from err
        if not 0 <= value <= 0o777:
            raise BadInput(f"bad --umask {umask!r}: must be between 000 and 777")
        settings["umask"] = f"{value | 0o002:04o}"
    gid = None
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError as err:
            raise BadInput(f"unknown group {group!r}") from err
        settings["group"] = group
    root.mkdir(parents=True, exist_ok=True)
    if gid is not None:
        os.chown(root, -1, gid)
        os.chmod(root, (root.stat().st_mode | stat.S_ISGID) & ~stat.S_IWOTH)
    write_json(root / SETTINGS_FILE, {**read_settings(root), **settings})
    return read_settings(root)


def private_dir(path: Path) -> Path:
    """A directory only its owner can read (submitit pickles may hold credentials or data)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path
