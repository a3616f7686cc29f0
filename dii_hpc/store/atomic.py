"""Atomic small-file writes for a shared filesystem (NFS, Lustre, GPFS).

A reader on another node must see either the old file or the new one, never a torn write:
write a temp file in the same directory, fsync it, rename over the target. rename() within
one directory is atomic on every POSIX filesystem we target; fsync first so that a crash of
the writing node cannot leave a renamed-but-empty file.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any


def write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically, creating parent directories."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def json_default(obj: Any) -> Any:
    """JSON for the values users log: numpy scalars/arrays, paths, sets."""
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def dumps(obj: Any) -> bytes:
    """Serialise like every JSON file of the store: NaN/inf allowed (Python's json reads them)."""
    return json.dumps(obj, default=json_default, indent=1, sort_keys=False).encode()


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_bytes(path, dumps(obj))


#: Waits before re-opening a file that a rename is replacing (about 60 ms in all).
SETTLE_S = (0.002, 0.008, 0.02, 0.03)


def read_settled(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a file that writers replace by rename, read through a networked FS.

    On GlusterFS (DHT link files) and NFS, an open racing a rename sometimes fails with ESTALE,
    or ENOENT although the file exists before and after; a moment later the open succeeds.
    Retry those a few times; a file whose folder is absent is missing at once.
    """
    for delay in (*SETTLE_S, None):
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError as err:
            transient = err.errno == errno.ESTALE or (
                err.errno == errno.ENOENT and os.path.isdir(os.path.dirname(os.fspath(path)) or "."))
            if delay is None or not transient:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(read_settled(path))


def create_exclusive(path: str | os.PathLike[str], data: bytes = b"") -> bool:
    """Create ``path`` only if absent; False when someone else already did (no lock needed)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return True
