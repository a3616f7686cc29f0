"""Drift over data larger than memory: mergeable sketches (Apache DataSketches).

A table's profile is one `ColumnSketch` per column (`profile`): for numeric columns a KLL
quantile sketch plus the exact count, missing count, min/max, mean and variance (and the exact
counts of its values while it has few); for categorical ones a frequent-items sketch. A
profile is built per file (per parquet row group / csv block) in bounded memory, one task per
shard, and profiles merge (`merge`) into the profile of all the data, whatever the split.
The stat tests are computed from two merged profiles (`tests`) with the sketch's documented
error bound kept beside the statistic; `compare` gives the drift section, `slurm` runs one
array task per shard and a dependent merge job. The exact tests stay the default for data
that fits in memory (`drift check` without ``--sketch``).

`datasketches` is an optional extra (``pip install 'dii-hpc[monitor]'``): imported here only
when a sketch is built or read, with a one-line BadInput when it is missing.
"""

from __future__ import annotations

from typing import Any

from dii_hpc.errors import BadInput


def datasketches() -> Any:
    """The `datasketches` module, or BadInput naming the extra that installs it."""
    try:
        import datasketches as ds
    except ImportError as err:
        raise BadInput("sketch drift needs the package datasketches: "
                       "pip install 'dii-hpc[monitor]' (or pip install datasketches)") from err
    return ds
