"""A reference-model recipe whose array tasks die mid-pack on demand (packing tests)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.examples.tabular import SklearnLogReg, load

_FITS = {"n": 0}  # fits in this process since it started


class DiesInTasks(SklearnLogReg):
    """`breast_cancer_sklearn`, whose second fit in an array task raises while the file
    ``marker`` exists: a pack that dies after its first model."""

    def __init__(self, x: np.ndarray, y: np.ndarray, marker: str) -> None:
        self.marker = marker
        super().__init__(x, y)

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        if os.environ.get("SUBMITIT_EXECUTOR"):  # only in array tasks
            _FITS["n"] += 1
            if _FITS["n"] > 2 and Path(self.marker).exists():  # 1: the task's own target
                raise RuntimeError("task died mid-pack")
        super().fit(x, y)


def dies_in_tasks(marker: str = "") -> Any:
    d = load("breast_cancer")
    return DiesInTasks(d["x_train"], d["y_train"], marker)
