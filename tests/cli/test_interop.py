"""`dii-hpc import mlflow|tensorboard` and `dii-hpc export --to mlflow` as users run them:
the real console script, its summary lines, exit codes and one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dii_hpc.store.store import Store
from tests.conftest import run_cli, tree_snapshot
from tests.interop.conftest import mlruns, quiet_mlflow  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": str(REPO)}


@pytest.mark.slow  # three MLflow start-ups in subprocesses (~30 s on 2 busy cores)
def test_import_mlflow_twice_then_export_to_sqlite(mlruns: dict[str, Any],  # noqa: F811
                                                   store_path: Path, tmp_path: Path) -> None:
    res = run_cli("import", "mlflow", str(mlruns["root"]), env=ENV, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "3 runs imported, 0 updated, 0 already present" in res.stdout
    before = tree_snapshot(store_path)
    res = run_cli("import", "mlflow", mlruns["uri"], env=ENV, cwd=tmp_path)
    assert "0 runs imported, 0 updated, 3 already present; 0 metric points" in res.stdout
    assert tree_snapshot(store_path) == before
    db = tmp_path / "team.db"
    res = run_cli("export", "vision_models", "--to", "mlflow", f"sqlite:///{db}", env=ENV, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "2 runs exported" in res.stdout and db.is_file()


def test_import_tensorboard(tmp_path: Path, store_path: Path) -> None:
    from tensorboardX import SummaryWriter

    w = SummaryWriter(str(tmp_path / "tb" / "run1"))
    for step in range(5):
        w.add_scalar("loss", 1.0 / (step + 1), step)
    w.close()
    res = run_cli("import", "tensorboard", str(tmp_path / "tb"), "-e", "old", env=ENV, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "1 runs imported" in res.stdout and "5 metric points" in res.stdout
    [rec] = Store(store_path).records("old")
    assert rec["tags"]["name"] == "run1"


@pytest.mark.parametrize(("args", "words"), [
    (["import", "mlflow", "{tmp}/absent"], "does not exist"),
    (["import", "mlflow", "{tmp}/plain"], "is not an MLflow store"),
    (["import", "mlflow", "sqlite:///{tmp}/plain/notes.txt"], "nor an SQLite database"),
    (["import", "mlflow", "{tmp}/garbage.db"], "nor an SQLite database"),
    (["import", "mlflow", "sqlite:///{tmp}/garbage.db"], "nor an SQLite database"),
    (["import", "mlflow", "{tmp}/other.db"], "an SQLite database without MLflow's tables"),
    (["import", "tensorboard", "{tmp}/plain"], "is not a TensorBoard log folder"),
    (["import", "tensorboard", "{tmp}/absent"], "does not exist"),
    (["export", "exp", "--to", "mlflow"], "give the tracking URI"),
    (["export", "exp", "--to", "csv", "x"], "unknown --to 'csv'"),
])
def test_bad_sources_are_one_line_and_exit_2(args: list[str], words: str, tmp_path: Path,
                                             store_path: Path) -> None:
    import sqlite3

    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("x")
    (tmp_path / "garbage.db").write_bytes(b"SQLite format 3\x00" + b"\x07" * 200)
    with sqlite3.connect(tmp_path / "other.db") as other:  # someone's own database
        other.execute("CREATE TABLE results (x INTEGER)")
    other.close()
    before = (tmp_path / "other.db").read_bytes()
    res = run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in args], env=ENV, cwd=tmp_path)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and words in lines[0], res.stderr
    assert not store_path.exists()
    assert (tmp_path / "other.db").read_bytes() == before  # MLflow's schema never went in
