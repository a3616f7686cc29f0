"""Profiles of tables as mergeable sketches: one `ColumnSketch` per column, built batch by batch.

Why sketches: the exact tests sort every value of both batches, so the data must fit in one
process. A KLL sketch keeps O(k log(n/k)) values whatever n, answers every rank and quantile
within a documented normalised rank error, and two sketches of two parts merge into the sketch
of the whole. Alongside it the column keeps what is exact and cheap to merge: the count, the
missing count, min and max, mean and variance (Chan's parallel update), and the exact counts of
its values while there are at most `FEW_LIMIT` distinct ones (flags and codes are counted as
categories, as the exact check does). Categorical columns keep a frequent-items sketch, exact
while they have fewer distinct values than its map holds.

Files are read a piece at a time (one column of one row group for parquet, a block for csv),
so a task's memory is one piece plus the sketches, however many rows the file has.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dii_hpc.drift.sketch import datasketches
from dii_hpc.errors import BadInput

DEFAULT_K = 400      # KLL k: normalised rank error 0.66 % (99 % confidence); ~30 KB per column
LG_ITEMS = 12        # frequent items map of 4096: exact below 3072 distinct categories
FEW_LIMIT = 64       # exact value counts kept while a numeric column has at most this many
BATCH_ROWS = 1 << 17  # rows per batch read from a file

Kind = Literal["numeric", "categorical"]


@dataclass
class ColumnSketch:
    """One column of a profile; ``n`` counts the present (non-missing) values."""

    kind: Kind
    k: int = DEFAULT_K
    n: int = 0
    missing: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")
    values: dict[float, int] | None = field(default_factory=dict)  # numeric, while few
    sketch: Any = None  # kll_doubles_sketch (numeric) | frequent_strings_sketch (categorical)

    def __post_init__(self) -> None:
        if self.sketch is None:
            ds = datasketches()
            self.sketch = ds.kll_doubles_sketch(self.k) if self.kind == "numeric" \
                else ds.frequent_strings_sketch(LG_ITEMS)

    @property
    def std(self) -> float:
        return float(np.sqrt(self.m2 / self.n)) if self.n else 0.0

    def add_numbers(self, x: np.ndarray) -> None:
        """Add a batch of numbers (NaN counts as missing)."""
        x = np.asarray(x, dtype=np.float64)
        nan = np.isnan(x)
        self.missing += int(nan.sum())
        x = x[~nan] if nan.any() else x
        if not len(x):
            return
        if not (x.flags.writeable and x.flags.c_contiguous):  # the binding takes no views
            x = np.array(x, dtype=np.float64)                  # of arrow's read-only buffers
        self.sketch.update(x)
        self._moments(len(x), float(x.mean()), float(((x - x.mean()) ** 2).sum()))
        self.min, self.max = min(self.min, float(x.min())), max(self.max, float(x.max()))
        if self.values is not None:
            vals, counts = np.unique(x, return_counts=True)
            if len(vals) > FEW_LIMIT:  # a continuous column: stop counting at once
                self.values = None
            else:
                self._add_values(dict(zip(vals.tolist(), counts.tolist(), strict=True)))

    def add_counts(self, counts: dict[str, int], missing: int = 0) -> None:
        """Add a batch of categories given as value -> count."""
        self.missing += missing
        for value, c in counts.items():
            self.sketch.update(value, int(c))
            self.n += int(c)

    def _moments(self, n: int, mean: float, m2: float) -> None:
        """Chan et al.'s pairwise update: exact mean and variance whatever the merge order."""
        total = self.n + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.n * n / total
        self.mean += delta * n / total
        self.n = total

    def _add_values(self, counts: dict[float, int]) -> None:
        if self.values is None:
            return
        for v, c in counts.items():
            self.values[v] = self.values.get(v, 0) + c
        if len(self.values) > FEW_LIMIT:
            self.values = None

    def merge(self, other: ColumnSketch) -> None:
        """Fold ``other`` (the same column of another part of the data) into this one."""
        if other.kind != self.kind:
            raise BadInput(f"cannot merge a {other.kind} column into a {self.kind} one")
        self.sketch.merge(other.sketch)
        self.missing += other.missing
        if self.kind == "categorical":
            self.n += other.n
            return
        if other.n:
            self._moments(other.n, other.mean, other.m2)
            self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        if other.values is None:
            self.values = None
        else:
            self._add_values(other.values)

    def rank_error(self) -> float:
        """The sketch's documented normalised rank error of one CDF value (99 % confidence);
        0 while it holds every value (not yet in estimation mode)."""
        if self.kind != "numeric" or not self.sketch.is_estimation_mode():
            return 0.0
        return float(self.sketch.normalized_rank_error(False))

    def category_counts(self) -> tuple[dict[Any, float], float]:
        """(estimated count of each category, largest error of one count); numeric columns
        give their values' exact counts while they have few (else an empty mapping)."""
        if self.kind == "numeric":
            return {v: float(c) for v, c in (self.values or {}).items()}, 0.0
        kind = datasketches().frequent_items_error_type.NO_FALSE_NEGATIVES
        rows = self.sketch.get_frequent_items(kind, 0)
        error = max((hi - lo for _i, _e, lo, hi in rows), default=0)
        return {item: float(est) for item, est, _lo, _hi in rows}, float(error)


@dataclass
class TableSketch:
    """A table's profile: its columns in order, its row count and the files it came from."""

    columns: dict[str, ColumnSketch]
    rows: int = 0
    sources: list[str] = field(default_factory=list)
    k: int = DEFAULT_K

    def merge(self, other: TableSketch) -> None:
        """Fold another part's profile into this one (the same columns, in any order)."""
        mine, theirs = set(self.columns), set(other.columns)
        if mine != theirs:
            missing, extra = sorted(mine - theirs), sorted(theirs - mine)
            raise BadInput(f"{', '.join(other.sources) or 'a profile'}: columns do not match "
                           f"(missing: {', '.join(missing) or '-'}; extra: {', '.join(extra) or '-'})")
        for name, col in self.columns.items():
            col.merge(other.columns[name])
        self.rows += other.rows
        self.sources += other.sources


def empty(kinds: dict[str, Kind], k: int = DEFAULT_K) -> TableSketch:
    """A profile of no rows with these columns."""
    return TableSketch({name: ColumnSketch(kind, k) for name, kind in kinds.items()}, k=k)


def kinds_of(schema: Any, categorical: list[str]) -> dict[str, Kind]:
    """Column kinds from a pyarrow schema: numbers and booleans are numeric, the rest (and
    the ``categorical`` columns) categorical."""
    import pyarrow as pa

    out: dict[str, Kind] = {}
    for f in schema:
        t = f.type
        number = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) \
            or pa.types.is_decimal(t)
        out[str(f.name)] = "numeric" if number and str(f.name) not in categorical else "categorical"
    return out


def add_batch(prof: TableSketch, batch: Any, rows: int | None = None) -> None:
    """Add the profile's columns found in one pyarrow RecordBatch (or Table); ``rows``: the
    rows it adds to the count (its own by default; 0 for a further column of the same rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in batch.schema.names:
        col = prof.columns.get(str(name))
        if col is None:
            continue
        arr = batch.column(name)
        if col.kind == "numeric":
            col.add_numbers(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False))
        else:
            vc = pc.value_counts(pc.cast(arr, pa.string()))
            counts = {str(v): int(c) for v, c in zip(vc.field("values").to_pylist(),
                                                      vc.field("counts").to_pylist(), strict=True)
                      if v is not None}
            col.add_counts(counts, int(arr.null_count))
    prof.rows += batch.num_rows if rows is None else rows


def _parquet_pieces(f: Any, columns: list[str]) -> Iterator[tuple[Any, int]]:
    """One column of one row group at a time: memory is one column chunk, not the file (a
    file iterator keeps what it decoded until it is done)."""
    for i in range(f.num_row_groups):
        for j, name in enumerate(columns):
            part = f.read_row_group(i, columns=[name])
            yield part, part.num_rows if j == 0 else 0


def pieces(path: Path, ignore: set[str]) -> tuple[Any, Iterator[tuple[Any, int]]]:
    """(schema, pieces) of a parquet or csv file read a piece at a time, each with the rows it
    adds (``ignore``: parquet columns not read); an npz is read whole (numpy cannot stream it)."""
    import pyarrow as pa

    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            f = pq.ParquetFile(path)
            names = [n for n in f.schema_arrow.names if n not in ignore]
            return f.schema_arrow, _parquet_pieces(f, names)
        if suffix in (".csv", ".tsv"):
            from pyarrow import csv

            parse = csv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            reader = csv.open_csv(path, parse_options=parse,
                                  read_options=csv.ReadOptions(block_size=1 << 24))
            return reader.schema, ((b, b.num_rows) for b in reader)
    except (OSError, pa.ArrowException) as err:
        raise BadInput(f"{path}: cannot read ({str(err).splitlines()[0]})") from err
    from dii_hpc.drift.io import read_table

    table = pa.Table.from_pandas(read_table(path), preserve_index=False)
    return table.schema, ((b, b.num_rows) for b in table.to_batches(BATCH_ROWS))


def profile_file(path: str | Path, categorical: list[str] | None = None,
                 ignore: list[str] | None = None, k: int = DEFAULT_K) -> TableSketch:
    """The profile of one file, read a piece at a time (bounded memory)."""
    import pyarrow as pa

    path = Path(path)
    schema, parts = pieces(path, set(ignore or []))
    kinds = {c: kd for c, kd in kinds_of(schema, list(categorical or [])).items()
             if c not in (ignore or [])}
    prof = empty(kinds, k)
    try:
        for part, rows in parts:
            add_batch(prof, part, rows)
    except pa.ArrowException as err:
        raise BadInput(f"{path}: cannot read ({str(err).splitlines()[0]})") from err
    if prof.rows == 0:
        raise BadInput(f"{path}: empty batch (no rows)")
    prof.sources = [str(path)]
    return prof


def profile_frame(frame: Any, categorical: list[str] | None = None, k: int = DEFAULT_K,
                  source: str = "") -> TableSketch:
    """The profile of a pandas DataFrame already in memory (a monitor's reference)."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    prof = empty(kinds_of(table.schema, list(categorical or [])), k)
    for batch in table.to_batches(BATCH_ROWS):
        add_batch(prof, batch)
    prof.sources = [source] if source else []
    return prof


def profile_arrays(arrays: dict[str, np.ndarray], kinds: dict[str, Kind],
                   k: int = DEFAULT_K) -> TableSketch:
    """The profile of named 1-D arrays (a prediction shard's inputs and outputs)."""
    prof = empty(kinds, k)
    for name, col in prof.columns.items():
        values = arrays[name]
        if col.kind == "numeric":
            col.add_numbers(values)
        else:
            import pandas as pd

            s = pd.Series(values)
            col.add_counts({str(v): int(c) for v, c in s.value_counts(dropna=True).items()},
                           int(s.isna().sum()))
        prof.rows = max(prof.rows, len(values))
    return prof
