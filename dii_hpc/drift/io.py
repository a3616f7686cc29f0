"""Reading batches (csv, parquet, npz) and refusing bad ones with one line that names the fault.

All validation happens here, at the edge, so the statistics can assume clean columns: a check
that crashes halfway through a nightly cron run helps nobody, a message naming the column does.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.errors import BadInput

SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz",
            ".npy": "npy"}


def resolve_path(pattern: str) -> Path:
    """A file path, or the newest file matching a glob (what a nightly job wants: the latest batch)."""
    if any(ch in pattern for ch in "*?["):
        matches = [p for p in glob.glob(os.path.expanduser(pattern)) if os.path.isfile(p)]
        if not matches:
            raise BadInput(f"no file matches {pattern!r}")
        return Path(max(matches, key=lambda p: (os.path.getmtime(p), p)))
    path = Path(os.path.expanduser(pattern))
    if path.is_dir():
        raise BadInput(f"{pattern}: is a directory; give a file or a glob such as "
                       f"'{os.path.join(pattern, '*.csv')}'")
    if not path.is_file():
        raise BadInput(f"{pattern}: no such file")
    return path


def _kind(path: Path) -> str:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise BadInput(f"{path}: unsupported format {path.suffix!r} (use .csv, .parquet or .npz)")
    return kind


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz/.npy file (for images / time series fed to a model)."""
    try:
        if path.suffix.lower() == ".npy":
            return {"x": np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise BadInput(f"{path}: cannot read ({str(err).splitlines()[0]})") from err


def main_array(path: Path) -> np.ndarray:
    """The one array an .npz holds (or the one named x / data / X): model input for embeddings."""
    arrays = read_arrays(path)
    for key in ("x", "X", "data", "images"):
        if key in arrays:
            return arrays[key]
    if len(arrays) != 1:
        raise BadInput(f"{path}: several arrays ({', '.join(arrays)}); name the input 'x'")
    return next(iter(arrays.values()))


def _npz_frame(path: Path) -> Any:
    """A table from an .npz: one 2-D array (column names from an optional 'columns' array) or
    several 1-D arrays of equal length (one column each)."""
    import pandas as pd

    arrays = read_arrays(path)
    names = [str(c) for c in arrays.pop("columns")] if "columns" in arrays else None
    two_d = [k for k, a in arrays.items() if a.ndim == 2]
    if len(arrays) == 1 and two_d:
        a = arrays[two_d[0]]
        cols = names or [f"f{i}" for i in range(a.shape[1])]
        if len(cols) != a.shape[1]:
            raise BadInput(f"{path}: 'columns' has {len(cols)} names for {a.shape[1]} columns")
        return pd.DataFrame(a, columns=cols)
    bad = [k for k, a in arrays.items() if a.ndim != 1]
    if bad:
        raise BadInput(f"{path}: array {bad[0]!r} has {arrays[bad[0]].ndim} dimensions; a table "
                       "needs one 2-D array or 1-D columns (images/series need --model)")
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) > 1:
        raise BadInput(f"{path}: columns have different lengths {sorted(lengths)}")
    return pd.DataFrame(arrays)


def read_table(path_or_pattern: str | Path) -> Any:
    """A pandas DataFrame from csv / parquet / npz; unreadable or empty files are BadInput."""
    import pandas as pd

    path = resolve_path(str(path_or_pattern))
    kind = _kind(path)
    try:
        if kind == "csv":
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            try:
                frame = pd.read_csv(path, sep=sep, engine="pyarrow")
            except Exception:  # noqa: BLE001 - pyarrow is strict; the C engine says which line
                frame = pd.read_csv(path, sep=sep)
        elif kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = _npz_frame(path)
    except pd.errors.EmptyDataError as err:
        raise BadInput(f"{path}: empty batch (no rows)") from err
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise BadInput(f"{path}: cannot read ({str(err).splitlines()[0]})") from err
    frame.columns = [str(c) for c in frame.columns]
    frame.attrs["path"] = str(path)
    if len(frame) == 0:
        raise BadInput(f"{path}: empty batch (no rows)")
    return frame


def is_numeric(series: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series.dtype))


def _first_text(series: Any) -> tuple[int, Any] | None:
    """Position and value of the first non-number in a mostly-numeric text column, else None."""
    import pandas as pd

    present = series.dropna()
    if len(present) == 0:
        return None
    parsed = pd.to_numeric(present, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.sum() > 0 and bad.mean() <= 0.5:
        pos = int(np.argmax(bad))
        return int(series.index.get_loc(present.index[pos])), present.iloc[pos]
    return None


def check_frame(frame: Any, name: str, categorical: list[str]) -> None:
    """Refuse all-NaN columns and text inside a numeric column (names column, row and value)."""
    for col in frame.columns:
        s = frame[col]
        if s.isna().all():
            raise BadInput(f"{name}: column {col!r} is all NaN")
        if col not in categorical and not is_numeric(s):
            hit = _first_text(s)
            if hit is not None:
                raise BadInput(f"{name}: column {col!r} has text {hit[1]!r} where numbers are "
                               f"expected (row {hit[0] + 1})")


def check_pair(ref: Any, cur: Any, ref_name: str, cur_name: str, ignore: list[str],
               categorical: list[str]) -> list[str]:
    """Validate two batches against each other; returns the columns to compare, in order."""
    for frame, name in ((ref, ref_name), (cur, cur_name)):
        if len(frame) == 0:
            raise BadInput(f"{name}: empty batch (no rows)")
    missing = [c for c in ref.columns if c not in cur.columns and c not in ignore]
    extra = [c for c in cur.columns if c not in ref.columns and c not in ignore]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing from {cur_name}: {', '.join(missing)}")
        if extra:
            parts.append(f"not in reference: {', '.join(extra)}")
        raise BadInput("columns do not match (" + "; ".join(parts) + ")")
    cols = [c for c in ref.columns if c not in ignore]
    if not cols:
        raise BadInput(f"{ref_name}: no columns to compare")
    check_frame(ref[cols], ref_name, categorical)
    check_frame(cur[cols], cur_name, categorical)
    for col in cols:
        if col in categorical:
            continue
        r_num, c_num = is_numeric(ref[col]), is_numeric(cur[col])
        if r_num != c_num:  # the reference sets the types: the current batch changed
            s = cur[col] if r_num else ref[col]
            value = next((v for v in s.dropna() if _not_number(v)), s.dropna().iloc[0])
            if r_num:
                raise BadInput(f"{cur_name}: column {col!r} has text {value!r} where numbers are "
                               f"expected (as in {ref_name})")
            raise BadInput(f"{cur_name}: column {col!r} holds numbers where {ref_name} has text "
                           f"({value!r}); give --categorical {col} if both are fine")
    return cols


def _not_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return True
    return False


def read_labels(path_or_pattern: str) -> np.ndarray:
    """Labels as a 1-D array: a one-column file, or the column named label / y / target."""
    frame = read_table(path_or_pattern)
    name = frame.attrs.get("path", path_or_pattern)
    for col in ("label", "labels", "y", "target"):
        if col in frame.columns:
            return frame[col].to_numpy()
    if frame.shape[1] != 1:
        raise BadInput(f"{name}: labels need one column or a column named label/y/target")
    return frame.iloc[:, 0].to_numpy()
