"""Fixtures for inference tests: generated data files and the reference a plain torch loop gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dii_hpc.inference import demo

MODEL = "dii_hpc.inference.demo:mlp"


def plain_loop(x: np.ndarray, batch: int, seed: int = 0, threads: int = 1) -> np.ndarray:
    """What a user would write by hand: the demo MLP over the rows in batches, one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        net = demo.mlp(seed=seed)
        with torch.no_grad():
            outs = [net(torch.from_numpy(x[i:i + batch])).numpy() for i in range(0, len(x), batch)]
    finally:
        torch.set_num_threads(before)
    return np.concatenate(outs)


@pytest.fixture()
def csv_data(tmp_path: Path) -> tuple[str, np.ndarray]:
    """3 csv files, 6,000 rows in all: (glob, the rows as float32 in file order)."""
    folder = tmp_path / "data"
    demo.write_data(folder, 6000, files=3, fmt="csv", seed=1)
    return str(folder / "*.csv"), demo.make_rows(6000, seed=1)
