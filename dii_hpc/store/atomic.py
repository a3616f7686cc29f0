"""Atomic small-file writes for a shared filesystem (NFS, Lustre, GPFS).

A reader on another node must see either the old file or the new one, never a torn write:
write a temp file in the same directory, fsync it, rename over the target. rename() within
one directory is atomic on every POSIX filesystem we target; fsync first so that a crash of
the writing node cannot leave a renamed-but-empty file.
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
import time
from pathlib import Path
from typing import Any


def write_bytes(path: str | os.PathLike[str], data: bytes | memoryview, *,
                mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically, creating parent directories (only when
    the temp file cannot be made: on a networked filesystem every mkdir and stat of a folder
    that exists is a round trip to the server, and most writes replace a file)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    flags, perm = os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode
    try:
        fd = os.open(tmp, flags, perm)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, flags, perm)
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
    """JSON for the values users log: numpy scalars/arrays, paths, sets, timestamps."""
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


#: How a number that JSON cannot hold is written (and read back by `as_number`).
NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def standard(obj: Any) -> Any:
    """``obj`` as standard JSON values: NaN, inf and -inf become the strings "nan", "inf" and
    "-inf" (str(float) of them, and float() reads them back), numpy values Python ones, keys
    strings.  Strict parsers (JavaScript, jq, Go) refuse the bare NaN/Infinity tokens."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {k if isinstance(k, str) else str(standard(k)): standard(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [standard(v) for v in obj]
    if obj is None or isinstance(obj, (str, int)):
        return obj
    return standard(json_default(obj))


def as_number(value: Any) -> Any:
    """A value read back from the store: "nan"/"inf"/"-inf" (see `standard`) as the float."""
    return NON_FINITE.get(value, value) if isinstance(value, str) else value


def dumps(obj: Any, *, indent: int | None = 1, sort_keys: bool = False) -> bytes:
    """The one JSON encoder of the store and the CLI: standard JSON (`standard`); indent=None
    writes it compact."""
    seps = (",", ":") if indent is None else None
    try:  # non-finite numbers are rare: walk the value only when plain encoding refuses it
        text = json.dumps(obj, default=json_default, indent=indent, sort_keys=sort_keys,
                          separators=seps, allow_nan=False)
    except (ValueError, TypeError):  # TypeError: keys json cannot sort or write
        text = json.dumps(standard(obj), indent=indent, sort_keys=sort_keys, separators=seps,
                          allow_nan=False)
    return text.encode()


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
