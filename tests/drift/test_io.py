"""Reading batches: npz layouts, newest file of a glob, labels, prediction columns."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dii_hpc.drift.check import check_files
from dii_hpc.drift.io import read_labels, read_table, resolve_path
from dii_hpc.drift.options import DriftOptions
from dii_hpc.errors import BadInput


def test_npz_layouts(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", data=np.arange(6.0).reshape(3, 2), columns=np.array(["p", "q"]))
    assert list(read_table(tmp_path / "a.npz").columns) == ["p", "q"]
    np.savez(tmp_path / "b.npz", u=np.arange(4), v=np.ones(4))
    frame = read_table(tmp_path / "b.npz")
    assert list(frame.columns) == ["u", "v"] and len(frame) == 4
    np.savez(tmp_path / "c.npz", u=np.arange(4), v=np.ones(3))
    with pytest.raises(BadInput, match="different lengths"):
        read_table(tmp_path / "c.npz")


def test_glob_takes_newest_file(tmp_path: Path) -> None:
    for i, name in enumerate(["b.csv", "a.csv", "c.csv"]):
        (tmp_path / name).write_text("x\n1\n")
        os.utime(tmp_path / name, (1_000_000 + i, 1_000_000 + i))
    assert resolve_path(str(tmp_path / "*.csv")).name == "c.csv"


def test_labels_by_name_or_single_column(tmp_path: Path) -> None:
    pd.DataFrame({"id": [1, 2], "target": [0, 1]}).to_csv(tmp_path / "l.csv", index=False)
    assert read_labels(str(tmp_path / "l.csv")).tolist() == [0, 1]
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(BadInput, match="labels need one column"):
        read_labels(str(tmp_path / "m.csv"))


def test_one_off_prediction_drift(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=400), "score": rng.normal(size=400)})
    cur = pd.DataFrame({"x": rng.normal(size=400), "score": rng.normal(1.0, 1, size=400)})
    ref.to_csv(tmp_path / "r.csv", index=False)
    cur.to_csv(tmp_path / "c.csv", index=False)
    sec = check_files(str(tmp_path / "r.csv"), str(tmp_path / "c.csv"),
                      DriftOptions(prediction_column="score"))
    assert list(sec.features) == ["x"] and sec.data_drift is False
    assert sec.prediction is not None
    assert sec.prediction.test == "ks" and sec.prediction.drift is True
    assert sec.drift is True
