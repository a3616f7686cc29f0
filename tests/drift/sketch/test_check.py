"""`dii-hpc drift check --sketch` and `drift profile --sketch` as users type them: the verdict
and exit code of the exact check, the sketch's error bound in the JSON, monitors from shards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dii_hpc import Store
from dii_hpc.cli.app import main
from dii_hpc.drift.options import DriftOptions
from dii_hpc.drift.sketch import check as sketched
from tests.drift.sketch.conftest import DRIFTED


def test_check_sketch_one_off(store_path: Path, batches: dict[str, Path], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "drift.json"
    code = main(["drift", "check", "--reference", str(batches["ref_glob"]), "--current",
                 str(batches["cur_glob"]), "--sketch", "--test", "mean=ks", "--json", str(out),
                 "--drift-share", "0.2"])
    text = capsys.readouterr().out
    assert code == 1 and "from sketches: KLL k=400" in text and "4 file(s)" in text
    section = json.loads(out.read_text())
    assert [c for c, f in section["features"].items() if f["drift"]] == DRIFTED
    ks = section["features"]["mean"]
    assert ks["test"] == "ks" and 0 < ks["error"] < 0.02
    assert section["sketch"]["k"] == 400 and section["sketch"]["current_files"] == 4
    assert section["n_reference"] == section["n_current"] == 120_000
    run = Store().run(section["run_id"])
    assert run["drift"]["sketch"]["rank_error_reference"] == section["sketch"]["rank_error_reference"]


def test_check_sketch_same_batch_is_no_drift(store_path: Path, batches: dict[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["drift", "check", "--reference", str(batches["ref"]), "--current",
                 str(batches["ref_glob"]), "--sketch", "--no-store"])
    assert code == 0 and "verdict: no drift" in capsys.readouterr().out


def test_monitor_from_sketches(store_path: Path, batches: dict[str, Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drift", "profile", "--data", str(batches["ref_glob"]), "--name", "big",
                 "--sketch"]) == 0
    assert "120000 reference rows" in capsys.readouterr().out
    folder = store_path / "monitors" / "big"
    assert (folder / "reference.sketch").is_file() and not (folder / "reference.parquet").exists()
    share = ["--drift-share", "0.2"]  # 3 of 10 columns drift
    assert main(["drift", "check", "--monitor", "big", "--data", str(batches["cur_glob"]),
                 *share]) == 1
    assert main(["drift", "check", "--monitor", "big", "--data", str(batches["ref"]), *share]) == 0
    capsys.readouterr()
    code = main(["drift", "check", "--monitor", "big", "--data", str(batches["cur"]),
                 "--mmd"])
    assert code == 2 and "--mmd" in capsys.readouterr().err
    # the target column is no feature; performance estimates need rows
    capsys.readouterr()
    section = sketched.check_files(str(batches["ref"]), str(batches["cur"]),
                                   DriftOptions(sketch=True, target_column="flag"))
    assert "flag" not in section.features and len(section.features) == 9
    assert main(["drift", "profile", "--data", str(batches["ref"]), "--name", "big2",
                 "--sketch", "--target", "flag"]) == 2
    assert "--target need rows" in capsys.readouterr().err
    # an exact profile of the same name leaves no sketch behind
    assert main(["drift", "profile", "--data", str(batches["ref"]), "--name", "big"]) == 0
    assert not (folder / "reference.sketch").exists()
