"""A profile as bytes (what the store keeps: a monitor's ``sketch.bin``, an array task's output).

The container is an uncompressed ``.npz`` (no pickle): ``meta`` holds the JSON of the profile
and its columns' exact parts, ``c<i>`` the i-th column's DataSketches serialisation (the
library's own portable binary format, readable from its Java and C++ versions too).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.drift.sketch import datasketches
from dii_hpc.drift.sketch.profile import ColumnSketch, TableSketch
from dii_hpc.errors import BadInput

FORMAT = 1


def _column_meta(col: ColumnSketch) -> dict[str, Any]:
    values = None if col.values is None else [[v, c] for v, c in col.values.items()]
    return {"kind": col.kind, "k": col.k, "n": col.n, "missing": col.missing, "mean": col.mean,
            "m2": col.m2, "min": col.min if col.n else None, "max": col.max if col.n else None,
            "values": values}


def dumps(prof: TableSketch) -> bytes:
    """The profile's bytes."""
    meta = {"format": FORMAT, "rows": prof.rows, "sources": prof.sources, "k": prof.k,
            "columns": [[name, _column_meta(col)] for name, col in prof.columns.items()]}
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    for i, col in enumerate(prof.columns.values()):
        arrays[f"c{i}"] = np.frombuffer(bytes(col.sketch.serialize()), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def loads(data: bytes, where: str = "sketch") -> TableSketch:
    """A profile from its bytes; a file that is not one is BadInput naming ``where``."""
    ds = datasketches()
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes())
            blobs = [z[f"c{i}"].tobytes() for i in range(len(meta["columns"]))]
    except (OSError, ValueError, KeyError) as err:
        raise BadInput(f"{where}: not a sketch profile ({err})") from err
    if meta.get("format") != FORMAT:
        raise BadInput(f"{where}: sketch format {meta.get('format')!r} (this dii-hpc reads "
                       f"{FORMAT}); make the profile again")
    columns: dict[str, ColumnSketch] = {}
    for (name, m), blob in zip(meta["columns"], blobs, strict=True):
        cls = ds.kll_doubles_sketch if m["kind"] == "numeric" else ds.frequent_strings_sketch
        values = None if m["values"] is None else {float(v): int(c) for v, c in m["values"]}
        columns[name] = ColumnSketch(
            kind=m["kind"], k=m["k"], n=m["n"], missing=m["missing"], mean=m["mean"], m2=m["m2"],
            min=float("inf") if m["min"] is None else m["min"],
            max=float("-inf") if m["max"] is None else m["max"], values=values,
            sketch=cls.deserialize(blob))
    return TableSketch(columns, rows=meta["rows"], sources=list(meta["sources"]), k=meta["k"])


def write(path: str | Path, prof: TableSketch) -> None:
    """Write the profile atomically (other nodes read it from the shared store)."""
    from dii_hpc.store.atomic import write_bytes

    write_bytes(path, dumps(prof))


def read(path: str | Path) -> TableSketch:
    from dii_hpc.store.atomic import read_settled

    p = Path(path)
    try:
        data = read_settled(p)
    except FileNotFoundError as err:
        raise BadInput(f"{p}: no such sketch profile") from err
    return loads(data, str(p))
