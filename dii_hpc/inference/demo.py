"""A tiny fixed-seed model and generated data, so inference can be shown and tested without
waiting for a trained model: the same weights on every node, every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

N_FEATURES = 20
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]


def mlp(hidden: int = 256, classes: int = 3, seed: int = 0) -> Any:
    """An MLP on 20 numeric features with weights fixed by ``seed`` (a torch module)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, classes))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / max(p.shape[-1], 1)) ** 0.5)
    net.input_columns = list(COLUMNS)  # type: ignore[assignment]  # what predict checks data against
    return net.eval()


class ThresholdModel:
    """A non-torch model: anything with ``predict(x)`` works (here: sign of the row sum)."""

    input_columns = list(COLUMNS)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (x.sum(axis=1) > 0).astype(np.int64)


def threshold() -> ThresholdModel:
    return ThresholdModel()


def make_rows(n_rows: int, seed: int = 0, shift: float = 0.0) -> np.ndarray:
    """``n_rows`` x 20 float32 features (``shift`` moves the mean: drifted data)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_rows, N_FEATURES)) + shift).astype(np.float32)


def write_data(folder: str | Path, n_rows: int, files: int = 1, fmt: str = "parquet",
               seed: int = 0, shift: float = 0.0) -> list[Path]:
    """Split generated rows over ``files`` files (csv, parquet or npz) named part-000.<fmt>..."""
    import pandas as pd

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x = make_rows(n_rows, seed, shift)
    paths = []
    for i, part in enumerate(np.array_split(x, files)):
        path = folder / f"part-{i:03d}.{fmt}"
        if fmt == "npz":
            np.savez(path, x=part, columns=np.array(COLUMNS))
        elif fmt == "csv":
            pd.DataFrame(part, columns=COLUMNS).to_csv(path, index=False, float_format="%.9g")
        else:
            pd.DataFrame(part, columns=COLUMNS).to_parquet(path, index=False)
        paths.append(path)
    return paths


class DemoLoader:
    """A DatasetLoader (``--data dii_hpc.inference.demo:DemoLoader``): generated rows, no files."""

    def __init__(self, n_rows: int = 10_000, seed: int = 0) -> None:
        self.n_rows, self.seed = n_rows, seed

    def get_dataset(self) -> np.ndarray:
        return make_rows(self.n_rows, self.seed)
