"""`dii-hpc runs|store|export` (cli/runs.py) as users meet them: real console script, exit
codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

import dii_hpc
from tests.conftest import run_cli, tree_snapshot


@pytest.fixture()
def populated(store_path: Path) -> list[str]:
    ids = []
    for lr in (0.001, 0.01, 0.1):
        with dii_hpc.start_run("digits", params={"lr": lr}) as run:
            run.log_metrics({"acc": lr * 5, "loss": 1 - lr}, step=0)
            ids.append(run.id)
    return ids


def test_list_filter_sort_formats(populated: list[str]) -> None:
    res = run_cli("runs", "list", "--filter", "params.lr > 0.001", "--sort", "metrics.acc",
                  "--format", "json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [r["params.lr"] for r in rows] == [0.1, 0.01]
    csv = run_cli("runs", "list", "-e", "digits", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("run_id,experiment") and len(csv) == 4
    table = run_cli("runs", "list").stdout
    assert all(rid in table for rid in populated)


def test_show_and_compare(populated: list[str]) -> None:
    shown = run_cli("runs", "show", populated[0])
    assert shown.returncode == 0 and "lr: 0.001" in shown.stdout
    cmp = run_cli("runs", "compare", *populated[:2], "--format", "json")
    fields = {r["field"]: r for r in json.loads(cmp.stdout)}
    assert fields["params.lr"][populated[0]] == 0.001 and fields["params.lr"][populated[1]] == 0.01
    assert "metrics.acc" in fields


def test_export_and_compact(populated: list[str], tmp_path: Path) -> None:
    out = tmp_path / "d.h5"
    assert run_cli("export", "digits", "--out", str(out)).returncode == 0
    with h5py.File(out) as h5:
        assert sorted(h5["runs"]) == sorted(populated)
    res = run_cli("store", "compact", "digits")
    assert res.returncode == 0 and "+3 runs" in res.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["runs", "list", "-e", "digit"], "did you mean digits"),
        (["runs", "show", "01ABCDEFGHJKMNPQRSTVWXYZ01"], "unknown run"),
        (["runs", "list", "--filter", "params.lr >"], "position 11"),
        (["runs", "list", "--filter", "(lr > 1"], "position 7"),
        (["runs", "list", "--sort", "metrics.nope"], "unknown column"),
        (["runs", "list", "--format", "xml"], "unknown --format"),
        (["runs", "compare", "x"], "at least two"),
        (["export", "nope", "--out", "/tmp/x.h5"], "unknown experiment"),
        (["store", "compact", "nope"], "unknown experiment"),
        (["runs", "list", "--bogus"], "No such option"),
    ],
)
def test_bad_input_one_line_exit_2_store_unchanged(populated, store_path: Path, args, needle) -> None:  # noqa: ANN001
    before = tree_snapshot(store_path)
    res = run_cli(*args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert tree_snapshot(store_path) == before


def test_store_path_that_is_a_file_exits_2(tmp_path: Path) -> None:
    f = tmp_path / "afile"
    f.write_text("")
    res = run_cli("--store", str(f), "runs", "list")
    assert res.returncode == 2 and "is a file" in res.stderr


def test_store_that_cannot_be_created_is_bad_input() -> None:
    from dii_hpc.errors import StoreError
    from dii_hpc.store.store import Store

    with pytest.raises(StoreError, match="cannot create store"):
        Store("/proc/dii-store-here").ensure_writable()


def test_damaged_run_is_reported_and_the_rest_listed(populated: list[str], store_path: Path) -> None:
    victim = next(store_path.rglob(f"{populated[0]}/run.json"))
    victim.write_text("garbage")
    res = run_cli("runs", "list", "--format", "json")
    assert res.returncode == 0
    assert sorted(r["run_id"] for r in json.loads(res.stdout)) == sorted(populated[1:])
    assert f"skipped damaged run {populated[0]}" in res.stderr


def test_debug_env_shows_traceback(populated: list[str]) -> None:
    res = run_cli("runs", "list", "-e", "nope", env={"DII_HPC_DEBUG": "1"})
    assert res.returncode != 0 and "Traceback" in res.stderr
