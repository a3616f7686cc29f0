"""`dii-hpc predict` (cli/predict.py) on bad input: one line, exit 2, naming what is wrong;
nothing is submitted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dii_hpc.cli.app import main
from dii_hpc.inference import demo
from tests.inference.conftest import MODEL


def _predict(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["predict", "--executor", "debug", *args])
    err = capsys.readouterr().err.strip()
    return code, err


def test_columns_that_do_not_match_the_model_are_named(
        store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = demo.make_rows(50)
    frame = pd.DataFrame(x, columns=demo.COLUMNS).drop(columns=["f7", "f19"])
    frame.to_csv(tmp_path / "b.csv", index=False)
    code, err = _predict(capsys, "--model", MODEL, "--data", str(tmp_path / "*.csv"),
                         "--out", str(tmp_path / "o"))
    assert code == 2 and len(err.splitlines()) == 1
    assert "b.csv" in err and "f7, f19" in err and "missing column" in err
    assert not (tmp_path / "o").exists()


def test_unnamed_model_with_wrong_width(store_path: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    mod = tmp_path / "plain_model.py"
    mod.write_text("import torch\n\ndef build():\n    return torch.nn.Linear(5, 2)\n")
    demo.write_data(tmp_path / "d", 20, fmt="parquet")
    code, err = _predict(capsys, "--model", f"{mod}:build", "--data", str(tmp_path / "d" / "*"),
                         "--out", str(tmp_path / "o"))
    assert code == 2 and "20 column(s) (f0, f1" in err and "takes 5 inputs" in err


def test_empty_glob(store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _predict(capsys, "--model", MODEL, "--data", str(tmp_path / "none-*.parquet"),
                         "--out", str(tmp_path / "o"))
    assert code == 2 and "no file matches" in err and "none-*.parquet" in err
    assert len(err.splitlines()) == 1


def test_model_that_fails_to_load_gives_its_own_message(
        store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mod = tmp_path / "broken_model.py"
    mod.write_text("def build():\n    raise RuntimeError('checkpoint server unreachable')\n")
    demo.write_data(tmp_path / "d", 20, fmt="csv")
    code, err = _predict(capsys, "--model", f"{mod}:build", "--data", str(tmp_path / "d" / "*"),
                         "--out", str(tmp_path / "o"))
    assert code == 2 and len(err.splitlines()) == 1
    assert "RuntimeError: checkpoint server unreachable" in err
    code, err = _predict(capsys, "--model", "no_such_pkg.models:build", "--data",
                         str(tmp_path / "d" / "*"), "--out", str(tmp_path / "o"))
    assert code == 2 and "no_such_pkg" in err


def test_out_dir_of_another_model_is_refused(store_path: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    demo.write_data(tmp_path / "d", 100, fmt="npz")
    data = str(tmp_path / "d" / "*.npz")
    assert _predict(capsys, "--model", MODEL, "--data", data, "--out", str(tmp_path / "o"))[0] == 0
    code, err = _predict(capsys, "--model", "dii_hpc.inference.demo:threshold", "--data", data,
                         "--out", str(tmp_path / "o"))
    assert code == 2 and "another model" in err and MODEL in err and len(err.splitlines()) == 1
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    code, err = _predict(capsys, "--model", MODEL, "--data", data, "--out", str(tmp_path / "junk"))
    assert code == 2 and "not empty" in err


def test_unknown_config_key_names_line(store_path: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text("model: a:b\nresources:\n  cpus_per_tsak: 2\n")
    code = main(["predict", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2 and "p.yaml:3" in err and "cpus_per_tsak" in err


def test_weights_from_a_run_that_do_not_fit(store_path: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    import dii_hpc

    torch.save(demo.mlp(hidden=8).state_dict(), tmp_path / "model.pt")
    with dii_hpc.start_run("train-small") as run:
        run.log_artifact(tmp_path / "model.pt")
    demo.write_data(tmp_path / "d", 20, fmt="csv")
    code, err = _predict(capsys, "--model", MODEL, "--from-run", run.id, "--data",
                         str(tmp_path / "d" / "*"), "--out", str(tmp_path / "o"))
    assert code == 2 and f"--from-run {run.id}: weights do not fit the model" in err
    code, err = _predict(capsys, "--model", MODEL, "--from-run", run.id, "--artifact", "w.pt",
                         "--data", str(tmp_path / "d" / "*"), "--out", str(tmp_path / "o"))
    assert code == 2 and "no artifact 'w.pt'" in err and "model.pt" in err
