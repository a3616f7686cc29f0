"""Inputs of a prediction job: files matching a glob (csv, parquet, npz) or a DatasetLoader.

The driver scans them once (rows, columns, sha256) and writes that into the manifest; each array
task then reads only the row range of its shard. Columns are checked against the model's inputs
here, before anything is queued, so a mismatch costs one line and exit 2, not a failed array.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.errors import BadInput

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}
_LOADER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_ARRAY_KEYS = ("x", "X", "data", "inputs", "images")
_loaded: dict[str, np.ndarray] = {}  # DatasetLoader results, once per process


@dataclass
class Source:
    """One input: a file (or a DatasetLoader) with its rows, columns and content hash."""

    path: str
    kind: str
    rows: int
    sha256: str
    columns: list[str] | None  # every column of a table, None for plain arrays
    key: str | None = None  # the npz array holding the inputs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_loader(data: str) -> bool:
    return bool(_LOADER.match(data)) and not Path(data).exists()


def resolve(data: str, cache: Path | None = None) -> list[Source]:
    """Every input the --data argument names, in a stable (sorted) order.

    ``cache`` (a JSON file) remembers scans by path, size, mtime and inode, so predicting the
    same files again (another model, a rerun) does not hash gigabytes a second time.
    """
    if is_loader(data):
        return [_scan_loader(data)]
    paths = sorted(p for p in glob.glob(os.path.expanduser(data)) if os.path.isfile(p))
    if not paths:
        raise BadInput(f"--data {data!r}: no file matches")
    known = _read_cache(cache)
    out = []
    for p in paths:
        path = Path(p).resolve()
        st = path.stat()
        key = f"{path}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
        out.append(Source(**known[key]) if key in known else scan(path))
        known[key] = out[-1].to_dict()
    if cache is not None:
        from dii_hpc.store.atomic import write_json

        live = {k: v for k, v in known.items() if Path(k.split("|")[0]).exists()}
        write_json(cache, live)
    return out


def _read_cache(cache: Path | None) -> dict[str, dict[str, Any]]:
    if cache is None or not cache.is_file():
        return {}
    from dii_hpc.store.atomic import read_json

    try:
        return dict(read_json(cache))
    except (OSError, ValueError):
        return {}  # a damaged cache only costs a rescan


def scan(path: Path) -> Source:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise BadInput(f"{path}: unsupported format {path.suffix!r} (use .csv, .parquet or .npz)")
    try:
        if kind == "csv":
            return _scan_csv(path)
        if kind == "parquet":
            return _scan_parquet(path)
        return _scan_npz(path)
    except BadInput:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged file is the user's input problem
        raise BadInput(f"{path}: cannot read ({type(err).__name__}: {str(err).splitlines()[0]})") from err


def _scan_csv(path: Path) -> Source:
    """One pass: sha256 and line count (numeric tables: no quoted newlines)."""
    import pandas as pd

    h, lines, last = hashlib.sha256(), 0, b"\n"
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    lines += last != b"\n"
    cols = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    return Source(str(path), "csv", max(lines - 1, 0), h.hexdigest(), cols)


def _sha(path: Path) -> str:
    from dii_hpc.store.blobs import file_sha256

    return file_sha256(path)[0]


def _scan_parquet(path: Path) -> Source:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path)
    return Source(str(path), "parquet", meta.metadata.num_rows, _sha(path),
                  [str(n) for n in meta.schema_arrow.names])


def _npz_layout(arrays: Any, path: Path) -> tuple[str | None, list[str] | None, int]:
    """(key of the input array or None for 1-D columns, column names, rows)."""
    names = [k for k in arrays.files if k != "columns"]
    cols = [str(c) for c in arrays["columns"]] if "columns" in arrays.files else None
    key = next((k for k in _ARRAY_KEYS if k in names), names[0] if len(names) == 1 else None)
    if key is not None:
        shape = arrays[key].shape
        if cols is not None and (len(shape) != 2 or len(cols) != shape[1]):
            raise BadInput(f"{path}: 'columns' has {len(cols)} names for array {key!r} of shape {shape}")
        return key, cols, int(shape[0])
    lengths = {k: arrays[k].shape for k in names}
    if any(len(s) != 1 for s in lengths.values()) or len({s[0] for s in lengths.values()}) > 1:
        raise BadInput(f"{path}: several arrays ({', '.join(names)}); name the input array 'x'")
    return None, names, int(next(iter(lengths.values()))[0]) if names else 0


def _scan_npz(path: Path) -> Source:
    with np.load(path, allow_pickle=False) as z:
        key, cols, rows = _npz_layout(z, path)
    return Source(str(path), "npz", rows, _sha(path), cols, key)


def _loader_array(spec: str) -> np.ndarray:
    """get_dataset() of a "module:Class" DatasetLoader; (x, y) and {"x": ...} give x."""
    if spec in _loaded:
        return _loaded[spec]
    from dii_hpc.config import refs

    cls = refs.resolve(spec, "--data", require=("get_dataset",), what="dataset loader")
    try:
        data = cls().get_dataset()
    except Exception as err:  # noqa: BLE001
        raise BadInput(f"--data {spec!r}: get_dataset() failed: {type(err).__name__}: {err}") from err
    if isinstance(data, dict):
        data = next((data[k] for k in _ARRAY_KEYS if k in data), None)
    elif isinstance(data, (tuple, list)):
        data = data[0]
    if hasattr(data, "to_numpy"):
        data = data.select_dtypes("number").to_numpy()
    if not isinstance(data, np.ndarray) or data.ndim < 1 or len(data) == 0:
        raise BadInput(f"--data {spec!r}: get_dataset() gave no rows (need an array, a table, "
                       "(x, y) or {'x': ...})")
    _loaded[spec] = np.ascontiguousarray(data, dtype=np.float32)
    return _loaded[spec]


def _scan_loader(spec: str) -> Source:
    x = _loader_array(spec)
    sha = hashlib.sha256(x.tobytes()).hexdigest()
    return Source(spec, "loader", int(len(x)), sha, None)


def select_columns(sources: list[Source], declared: list[str] | None,
                   width: int | None) -> list[str] | None:
    """The columns fed to the model; BadInput names the file and the columns at fault."""
    if not sources[0].columns:
        for s in sources:
            if s.columns:
                raise BadInput(f"{s.path}: a table among array inputs ({sources[0].path})")
        return None
    if declared:
        for s in sources:
            missing = [c for c in declared if c not in (s.columns or [])]
            if missing:
                raise BadInput(f"{s.path}: missing column(s) {', '.join(missing)} that the model "
                               f"takes (it has {', '.join(s.columns or []) or 'none'})")
        return list(declared)
    first = sources[0].columns
    for s in sources[1:]:
        if s.columns != first:
            diff = sorted(set(first) ^ set(s.columns or []))
            raise BadInput(f"{s.path}: columns differ from {sources[0].path} "
                           f"({', '.join(diff) or 'order'})")
    if width is not None and len(first) != width:
        raise BadInput(f"{sources[0].path}: {len(first)} column(s) ({', '.join(first)}) "
                       f"but the model takes {width} inputs")
    return list(first)


def read_rows(sources: list[dict[str, Any]], columns: list[str] | None, start: int,
              stop: int) -> np.ndarray:
    """Rows [start, stop) of the concatenated inputs as one float32 array."""
    parts, offset = [], 0
    for s in sources:
        lo, hi = max(start, offset), min(stop, offset + s["rows"])
        if lo < hi:
            parts.append(_read_slice(s, columns, lo - offset, hi - offset))
        offset += s["rows"]
    if not parts:
        raise BadInput(f"rows {start}:{stop} are beyond the inputs ({offset} rows)")
    out = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return np.ascontiguousarray(out, dtype=np.float32)


def _read_slice(s: dict[str, Any], columns: list[str] | None, lo: int, hi: int) -> np.ndarray:
    kind, path = s["kind"], s["path"]
    try:
        if kind == "loader":
            return _loader_array(path)[lo:hi]
        if kind == "csv":
            import pandas as pd

            frame = pd.read_csv(path, skiprows=lo + 1, nrows=hi - lo, header=None,
                                names=s["columns"], usecols=columns or None)
            return frame[columns or s["columns"]].to_numpy(np.float32)
        if kind == "parquet":
            return _parquet_slice(path, columns, lo, hi)
        with np.load(path, allow_pickle=False) as z:
            if s["key"] is not None:
                x = z[s["key"]][lo:hi]
                return x[:, [s["columns"].index(c) for c in columns]] if columns else x
            return np.stack([z[c][lo:hi] for c in columns or s["columns"]], axis=1)
    except (ValueError, TypeError) as err:
        raise BadInput(f"{path}: rows {lo}:{hi} are not numeric model input ({err})") from err


def _parquet_slice(path: str, columns: list[str] | None, lo: int, hi: int) -> np.ndarray:
    """Only the row groups that overlap [lo, hi) (only the first batch for a small head)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    if lo == 0 and hi <= 4096:
        table = pa.Table.from_batches([next(f.iter_batches(batch_size=hi, columns=columns))])
        return _columns_to_rows(table.slice(0, hi))
    groups, first, offset = [], None, 0
    for g in range(f.metadata.num_row_groups):
        n = f.metadata.row_group(g).num_rows
        if offset < hi and offset + n > lo:
            groups.append(g)
            first = offset if first is None else first
        offset += n
    table = f.read_row_groups(groups, columns=columns)
    return _columns_to_rows(table.slice(lo - (first or 0), hi - lo))


def _columns_to_rows(table: Any) -> np.ndarray:
    """Arrow columns -> a row-major float32 matrix (pandas' block path: the fastest measured)."""
    return np.ascontiguousarray(table.to_pandas().to_numpy(np.float32))
