"""The file format of an experiment's compacted summary: Parquet, with a JSON fallback.

Parquet needs one type per column; run params may mix types (a list here, a number there,
or an int here and a float there, which Arrow would make all floats), so such columns are
stored JSON-encoded and named in the file's metadata.  Ints with gaps read back as ints (a
param logged as 1 stays 1, not 1.0).  Listing reads this file and compaction writes it;
neither knows how the other works.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

from dii_hpc.store.atomic import write_bytes

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    import pandas as pd

_JSON_COLS = "dii_hpc.json_columns"


def write_summary(path: Path, df: pd.DataFrame) -> None:
    """Parquet with a fallback for columns that mix types (JSON-encoded, listed in metadata)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = df.reset_index(drop=True).copy()
    json_cols = []
    for col in df.columns:
        if df[col].dtype == object:
            try:
                pa.array(df[col], from_pandas=True)
                exact = not _ints_and_floats(df[col])
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                exact = False
            if not exact:
                df[col] = [json.dumps(v) for v in df[col]]
                json_cols.append(col)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_JSON_COLS.encode()] = json.dumps(json_cols).encode()
    table = table.replace_schema_metadata(meta)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_bytes(path, buf.getvalue())


def read_summary(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    json_cols = json.loads((table.schema.metadata or {}).get(_JSON_COLS.encode(), b"[]"))
    df = table.to_pandas(integer_object_nulls=True)
    for col in json_cols:
        df[col] = [json.loads(v) for v in df[col]]
    return df


def _ints_and_floats(values: pd.Series) -> bool:
    """Whether a column holds both ints and (non-missing) floats: Arrow would store 1 as 1.0."""
    kinds = {type(v) for v in values if not (isinstance(v, float) and v != v)}
    return int in kinds and float in kinds
