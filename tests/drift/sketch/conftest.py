"""Generated tables for the sketch tests: a reference and a drifted current batch, each as one
parquet file and as shards of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROWS = 120_000
SHARDS = 4
DRIFTED = ["mean", "scale", "tail"]  # the columns the current batch changes


def table(seed: int, drifted: bool) -> pd.DataFrame:
    """8 numeric columns (3 of them changed when ``drifted``), a category and a flag."""
    rng = np.random.default_rng(seed)
    n = ROWS
    frame = pd.DataFrame({
        "mean": rng.normal(0, 1, n) + (0.4 if drifted else 0.0),
        "scale": rng.normal(0, 1.6 if drifted else 1.0, n),
        "tail": rng.exponential(1.0, n) ** (1.3 if drifted else 1.0),
        "same": rng.normal(5, 2, n),
        "uniform": rng.uniform(-3, 3, n),
        "lognormal": rng.lognormal(0, 1, n),
        "f32": rng.normal(0, 1, n).astype(np.float32),
        "small": rng.normal(0, 1e-6, n),
        "color": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
        "flag": rng.integers(0, 2, n),
    })
    frame.loc[rng.random(n) < 0.01, "same"] = np.nan
    return frame


@pytest.fixture(scope="session")
def batches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ref.parquet / cur.parquet and the globs of their shards (ref-*.parquet, cur-*.parquet)."""
    root = tmp_path_factory.mktemp("sketch-data")
    for name, frame in (("ref", table(1, False)), ("cur", table(2, True))):
        frame.to_parquet(root / f"{name}.parquet", index=False, row_group_size=20_000)
        for i, part in enumerate(np.array_split(np.arange(len(frame)), SHARDS)):
            frame.iloc[part].to_parquet(root / f"{name}-{i}.parquet", index=False)
    return {"root": root, "ref": root / "ref.parquet", "cur": root / "cur.parquet",
            "ref_glob": root / "ref-*.parquet", "cur_glob": root / "cur-*.parquet"}
