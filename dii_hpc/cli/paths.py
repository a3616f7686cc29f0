"""Output paths that commands are given (--out, --json, --junit), checked before any work.

An audit that runs for minutes must not fail at its last step because ``--junit`` names a
folder; the check costs a few stat calls and says which option is at fault, in one line.
"""

from __future__ import annotations

import os
from pathlib import Path

from dii_hpc.errors import BadInput


def output_file(path: str | None, option: str) -> Path | None:
    """``path`` as a file to (over)write: not a folder, inside a folder we can write."""
    if path is None:
        return None
    target = Path(path).expanduser()
    if target.is_dir():
        raise BadInput(f"{option} {path}: is a directory; give a file")
    _writable_parent(target, path, option)
    return target


def output_dir(path: str | os.PathLike[str], option: str) -> Path:
    """``path`` as a folder to write into (created later): not a file, creatable."""
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise BadInput(f"{option} {path}: is a file; give a folder")
    if not target.exists():
        _writable_parent(target, str(path), option)
    return target


def _writable_parent(target: Path, shown: str, option: str) -> None:
    parent = target.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise BadInput(f"{option} {shown}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadInput(f"{option} {shown}: cannot write in {parent}")
