"""Content-addressed artifact blobs: ``blobs/sha256/<ab>/<rest>``, written once, shared by all runs.

The same model or data file logged by a thousand sweep tasks is stored once; a blob's name is
its hash, so concurrent writers of the same content race harmlessly (both renames publish the
same bytes).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from pathlib import Path


def file_sha256(path: str | os.PathLike[str]) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def blob_path(store_root: Path, sha: str) -> Path:
    return store_root / "blobs" / "sha256" / sha[:2] / sha[2:]


def put_file(store_root: Path, src: str | os.PathLike[str]) -> tuple[str, int]:
    """Store ``src`` under its hash unless an identical blob is already there."""
    sha, size = file_sha256(src)
    dst = blob_path(store_root, sha)
    if dst.exists() and dst.stat().st_size == size:
        return sha, size
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return sha, size


def put_bytes(store_root: Path, data: bytes) -> tuple[str, int]:
    from dii_hpc.store.atomic import write_bytes

    sha = hashlib.sha256(data).hexdigest()
    dst = blob_path(store_root, sha)
    if not dst.exists():
        write_bytes(dst, data, mode=0o444)
    return sha, len(data)
