"""run.log_input: content hashes, shapes and sources; the Executor records its datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dii_hpc.errors import BadInput
from dii_hpc.store.store import Store
from dii_hpc.tracking.inputs import describe
from dii_hpc.tracking.run import start_run

REPO = Path(__file__).resolve().parents[2]


def test_arrays_hash_their_content_dtype_and_shape() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    d = describe(a)
    assert d["kind"] == "array" and d["shape"] == [3, 4] and d["rows"] == 3
    assert d["sha256"] == describe(a.copy())["sha256"] == describe(np.asfortranarray(a))["sha256"]
    assert d["sha256"] != describe(a.reshape(4, 3))["sha256"] != describe(a.astype(np.float64))["sha256"]
    assert describe([1.0, 2.0])["kind"] == "array" and describe(["a", "b"])["shape"] == [2]


def test_files_folders_tables_and_mappings(tmp_path: Path) -> None:
    f = tmp_path / "data" / "a.csv"
    f.parent.mkdir()
    f.write_text("x\n1\n")
    (f.parent / "b.csv").write_text("x\n2\n")
    one = describe(f)
    assert one["kind"] == "file" and one["bytes"] == 4 and one["source"] == str(f.resolve())
    folder = describe(f.parent)
    assert folder["kind"] == "folder" and folder["files"] == 2
    df = pd.DataFrame({"x": [1, 2, 3], "y": [0.5, 0.1, 0.2]})
    table = describe(df)
    assert table["kind"] == "table" and table["rows"] == 3 and table["columns"] == 2
    assert table["sha256"] != describe(df.iloc[::-1])["sha256"]
    parts = describe({"x_train": np.zeros((5, 2)), "y_train": np.zeros(5)})
    assert parts["kind"] == "mapping" and parts["rows"] == 5 and set(parts["parts"]) == {"x_train", "y_train"}
    assert describe(object())["sha256"] is None


def test_log_input_writes_the_runs_inputs_section(store_path: Path) -> None:
    with start_run("e") as run:
        entry = run.log_input("train", np.ones((4, 2)), source="s3://bucket/train")
        with pytest.raises(BadInput, match="invalid input name"):
            run.log_input("../x", np.ones(1))
    rec = Store(store_path).run(run.id)
    assert rec["inputs"] == {"train": entry} and entry["source"] == "s3://bucket/train"


def test_the_executor_records_its_datasets(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dii_hpc.config import from_dict
    from dii_hpc.launch.submit import run_debug_jobs, submit

    monkeypatch.chdir(REPO)
    fix = "tests.launch.fixtures.models"
    raw = {"experiment": "fx", "models": {"q": {"class": f"{fix}:Quadratic"}},
           "datasets": {"p": {"class": f"{fix}:Points", "params": {"n": 5}}},
           "resources": {"time": "00:01:00", "sys_metrics_s": 0}}
    res = submit(from_dict(raw), Store(store_path), "debug")
    run_debug_jobs(res.submission_id)
    inputs = Store(store_path).run(res.run_ids[0])["inputs"]
    assert inputs["p"]["source"] == f"{fix}:Points(n=5)"
    assert inputs["p"]["shape"] == [5] and inputs["p"]["sha256"] == describe([0.0, 1.0, 2.0, 3.0, 4.0])["sha256"]
