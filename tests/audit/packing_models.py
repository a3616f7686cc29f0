"""A reference-model recipe whose array tasks die mid-pack on demand (packing tests)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.examples.tabular import SklearnLogReg, load

_FITS = {"n": 0}  # fits in this process since it started
_WORKER_FITS: dict[int, int] = {}  # fits per forked worker


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


class StallsInWorkers(SklearnLogReg):
    """`breast_cancer_sklearn` whose second fit in a forked worker (a process other than
    the one that built it) announces itself in ``folder`` (`stalled-<pid>`) and waits to be
    killed: a worker that dies after its first model, killed by the test."""

    def __init__(self, x: np.ndarray, y: np.ndarray, folder: str) -> None:
        self.folder, self.builder, self.fits = folder, os.getpid(), 0
        super().__init__(x, y)

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        if os.getpid() != self.builder and Path(self.folder, "stall").exists():
            _WORKER_FITS[os.getpid()] = _WORKER_FITS.get(os.getpid(), 0) + 1
            if _WORKER_FITS[os.getpid()] > 1:  # models are fitted on copies: count per process
                Path(self.folder, f"stalled-{os.getpid()}").touch()
                threading.Event().wait(300)  # until the test's SIGKILL (bounded: no leak)
        super().fit(x, y)


def stalls_in_workers(folder: str = "") -> Any:
    d = load("breast_cancer")
    return StallsInWorkers(d["x_train"], d["y_train"], folder)
