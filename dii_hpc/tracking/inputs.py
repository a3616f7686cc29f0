"""What ``run.log_input`` records about a dataset: a content hash, its size and where it came from.

The hash identifies the data a model was trained on (the registry's lineage shows it), so it
covers the content only: the same array loaded from two copies of a file hashes the same.
Files are hashed streaming; folders as the sorted list of their files' paths and hashes;
arrays as dtype, shape and bytes; tables (pandas) through their numpy values and columns; a
mapping or sequence of these (e.g. {"x_train": ..., "y_train": ...}) part by part.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

_MAX_PARTS = 64  # parts of a mapping/sequence described one by one


def _file(path: Path) -> dict[str, Any]:
    from dii_hpc.store.blobs import file_sha256

    sha, size = file_sha256(path)
    return {"kind": "file", "sha256": sha, "bytes": size, "source": str(path.resolve())}


def _folder(path: Path) -> dict[str, Any]:
    from dii_hpc.store.blobs import file_sha256

    h, total, n = hashlib.sha256(), 0, 0
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        sha, size = file_sha256(p)
        h.update(f"{p.relative_to(path).as_posix()}\0{sha}\n".encode())
        total, n = total + size, n + 1
    return {"kind": "folder", "sha256": h.hexdigest(), "bytes": total, "files": n,
            "source": str(path.resolve())}


def _array(a: Any) -> dict[str, Any]:
    import numpy as np

    arr = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    if arr.dtype.hasobject:
        h.update(repr(arr.tolist()).encode())
    else:
        h.update(arr.data)  # its bytes, uncopied (an empty array too)
    return {"kind": "array", "sha256": h.hexdigest(), "shape": list(arr.shape),
            "dtype": str(arr.dtype), "rows": int(arr.shape[0]) if arr.ndim else 1}


def _table(df: Any) -> dict[str, Any]:
    import pandas as pd

    h = hashlib.sha256(repr(list(map(str, df.columns))).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return {"kind": "table", "sha256": h.hexdigest(), "rows": int(len(df)),
            "columns": len(df.columns), "shape": [int(len(df)), len(df.columns)]}


def _parts(items: list[tuple[str, Any]], kind: str) -> dict[str, Any]:
    parts = {k: describe(v) for k, v in items[:_MAX_PARTS]}
    h = hashlib.sha256()
    for k, part in parts.items():
        h.update(f"{k}\0{part.get('sha256')}\n".encode())
    rows = [p["rows"] for p in parts.values() if isinstance(p.get("rows"), int)]
    return {"kind": kind, "sha256": h.hexdigest(), "parts": parts,
            "rows": max(rows) if rows else None}


def describe(data: Any) -> dict[str, Any]:
    """A JSON-able description of ``data``; an object we cannot read is named, not hashed."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data).expanduser()
        if path.is_file():
            return _file(path)
        if path.is_dir():
            return _folder(path)
        return {"kind": "reference", "sha256": None, "source": str(data)}
    if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        return _table(data)
    if isinstance(data, dict):
        return _parts([(str(k), v) for k, v in data.items()], "mapping")
    if isinstance(data, (list, tuple)) and data and not all(
            isinstance(v, (str, int, float, bool)) for v in data):
        return _parts([(str(i), v) for i, v in enumerate(data)], "sequence")
    if hasattr(data, "__array__") or isinstance(data, (list, tuple)):
        try:
            return _array(data)
        except (TypeError, ValueError):
            pass
    return {"kind": "object", "sha256": None, "type": f"{type(data).__module__}.{type(data).__qualname__}"}
