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


def test_sort_on_a_column_of_mixed_types(store_path: Path) -> None:
    """#14 item 6: --sort on a column mixing None/NaN/str/bool/int once raised TypeError."""
    for a in (3, "x", True, None, float("nan"), 1.5, [1, 2]):
        with dii_hpc.start_run("mixed", params={} if a is None else {"a": a}) as run:
            run.log_metric("acc", 0.5)
    for order in ("--asc", "--desc"):
        res = run_cli("runs", "list", "--sort", "params.a", order, "--format", "json")
        assert res.returncode == 0, res.stderr
        values = [r.get("params.a") for r in json.loads(res.stdout)]
        assert len(values) == 7
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
                   and v == v]
        assert numbers == sorted(numbers, reverse=order == "--desc")
        assert values[-1] is None     # missing values last whichever the order


def test_merge_brings_monitors_and_other_store_folders(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    """#14 item 7: after `store merge`, `drift check --monitor prod` in the destination once said
    'unknown monitor'; folders a later version adds (models/) must come along too, while derived
    (site/, cache/) and cluster-local ones (jobs/) stay behind."""
    import numpy as np
    import pandas as pd

    from dii_hpc.cli.app import main

    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(0, 1, 300)}).to_csv("ref.csv", index=False)
    assert main(["--store", str(a), "drift", "profile", "--data", "ref.csv", "--name", "prod"]) == 0
    for rel in ("models/clf/v1.json", "site/index.html", "cache/x.json", "jobs/1.json"):
        (a / rel).parent.mkdir(parents=True, exist_ok=True)
        (a / rel).write_text("{}")
    with dii_hpc.start_run("exp", store=str(b)) as run:
        run.log_metric("acc", 1.0)
    capsys.readouterr()
    assert main(["store", "merge", str(a), str(b)]) == 0
    assert "monitors" in capsys.readouterr().out
    assert (b / "models/clf/v1.json").is_file() and (b / "monitors/prod/profile.json").is_file()
    assert not any((b / d).exists() for d in ("site", "cache", "jobs/1.json"))
    code = main(["--store", str(b), "drift", "check", "--monitor", "prod", "--data", "ref.csv"])
    assert code == 0, capsys.readouterr().err


def test_nan_and_inf_are_standard_json_everywhere(store_path: Path) -> None:
    """#14 item 10: run.json and `--format json` held NaN/-Infinity, which strict parsers refuse."""
    from tests.store.test_atomic import strict

    with dii_hpc.start_run("odd", params={"eps": float("nan")}) as run:
        run.log_metrics({"loss": float("inf"), "gain": float("-inf"), "acc": 0.5}, step=0)
        run.log_metric("dead", float("nan"), step=0)
        rid = run.id
    record = strict(dii_hpc.Store().run_dir(rid).joinpath("run.json").read_text())
    assert record["metrics"]["loss"]["last"] == "inf" and record["params"]["eps"] == "nan"
    rows = strict(run_cli("runs", "list", "--format", "json").stdout)
    assert rows[0]["metrics.loss"] == "inf" and rows[0]["metrics.gain"] == "-inf"
    assert rows[0]["metrics.dead"] is None  # a NaN cell of a table is an empty cell: null
    assert rows[0]["start_time"].endswith("Z") and "T" in rows[0]["start_time"]
    dii_hpc.Store().create_run("odd")         # never started: its times are null, not "NaT"
    rows = strict(run_cli("runs", "list", "--format", "json").stdout)
    assert sorted([r["start_time"] is None for r in rows]) == [False, True]
    shown = strict(run_cli("runs", "show", rid, "--format", "json").stdout)
    assert shown["metrics"]["gain"]["last"] == "-inf"
    cmp_rows = strict(run_cli("runs", "compare", rid, rid, "--format", "json").stdout)
    assert {r["field"] for r in cmp_rows} >= {"metrics.loss"}
    df = dii_hpc.Store().runs("odd").set_index("run_id")   # readers get numbers back
    assert df.loc[rid, "metrics.loss"] == float("inf") and df.loc[rid, "metrics.acc"] == 0.5
    filtered = run_cli("runs", "list", "--filter", "metrics.loss > 1", "--format", "json")
    assert [r["run_id"] for r in strict(filtered.stdout)] == [rid]


@pytest.mark.parametrize(("args", "needle"), [
    (["runs", "list", "--limit", "-1"], "--limit -1: must be 0 or more"),
    (["runs", "list", "--kind", "bogus"], "--kind 'bogus': expected one of train, audit"),
    (["export", "digits", "-o", "{tmp}"], "--out {tmp}: is a directory; give a file"),
    (["export", "digits", "-o", "{tmp}/file.txt/x.h5"], "--out {tmp}/file.txt/x.h5: {tmp}/file.txt is not a folder"),
    (["--store", "{tmp}/typo", "runs", "list"], "no store at {tmp}/typo"),
    (["--store", "{tmp}/typo", "runs", "show", "01ABCDEFGHJKMNPQRSTVWXYZ01"], "no store at {tmp}/typo"),
    (["--store", "{tmp}/typo", "status"], "no store at {tmp}/typo"),
    (["--store", "{tmp}/typo", "export", "digits", "-o", "{tmp}/x.h5"], "no store at {tmp}/typo"),
    # #27: every read command decides the store through cli.common.store (these listed nothing)
    (["--store", "{tmp}/typo", "models", "list"], "no store at {tmp}/typo"),
    (["--store", "{tmp}/typo", "pipeline", "list"], "no store at {tmp}/typo"),
    (["--store", "{tmp}/typo", "drift", "history", "m"], "no store at {tmp}/typo"),
    (["--store", "{tmp}/typo", "sweep", "show", "digits"], "no store at {tmp}/typo"),
])
def test_more_bad_input_exit_2(populated, tmp_path: Path, store_path: Path, args, needle) -> None:  # noqa: ANN001
    """#14 item 12: each was exit 0 (a dropped row, an empty listing) or exit 3 (a traceback)."""
    (tmp_path / "file.txt").write_text("x")
    before = tree_snapshot(store_path)
    res = run_cli(*[a.format(tmp=tmp_path) for a in args])
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert needle.format(tmp=tmp_path) in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert tree_snapshot(store_path) == before and not (tmp_path / "typo").exists()
    assert run_cli("runs", "list", "--limit", "0", "--format", "json").stdout.strip() == "[]"


def test_metric_keys_in_any_script_are_stored_and_listed(store_path: Path) -> None:
    """#14 item 14: "épsilon" and "损失" were refused."""
    with dii_hpc.start_run("intl") as run:
        run.log_metrics({"épsilon": 0.1, "损失": 0.5}, step=0)
    assert sorted(dii_hpc.Store().metric_keys(run.id)) == sorted(["épsilon", "损失"])
    rows = json.loads(run_cli("runs", "list", "--format", "json").stdout)
    assert rows[0]["metrics.损失"] == 0.5


def test_compare_shows_slurm_times_as_dates(store_path: Path) -> None:
    """#14 "smaller": `runs compare` showed Slurm times as 1.796e+09."""
    ids = []
    for start in (1796000000.0, 1796000600.0):
        with dii_hpc.start_run("t") as run:
            run.log_metric("acc", 1.0)
            ids.append(run.id)
        dii_hpc.Store().update_run(run.id, slurm={"job_id": "1", "start_time": start})
    table = run_cli("runs", "compare", *ids).stdout
    assert "e+09" not in table and "2026-11-30 " in table
    rows = json.loads(run_cli("runs", "compare", *ids, "--format", "json").stdout)
    assert {r["field"]: r for r in rows}["slurm.start_time"][ids[0]] == 1796000000.0


@pytest.mark.parametrize("compacted", [False, True])
def test_a_param_compares_as_it_was_logged(store_path: Path, compacted: bool) -> None:
    """`fold` logged as 1 by one run and absent from another is '1', not '1.0' (the way MLflow
    users write it); a run without the param matches no comparison, != included."""
    with dii_hpc.start_run("folds", params={"fold": 1}) as one:
        pass
    with dii_hpc.start_run("folds", params={"fold": 2}) as two:
        pass
    with dii_hpc.start_run("folds", params={"other": "x"}):
        pass
    if compacted:
        assert run_cli("store", "compact", "folds").returncode == 0

    def ids(expr: str) -> list[str]:
        res = run_cli("runs", "list", "-e", "folds", "--filter", expr, "--format", "json")
        assert res.returncode == 0, res.stderr
        return [row["run_id"] for row in json.loads(res.stdout)]

    assert ids("params.fold = '1'") == [one.id]
    assert ids("params.fold != '1'") == [two.id]
    assert ids("params.fold != 1") == [two.id]
    rows = json.loads(run_cli("runs", "list", "-e", "folds", "--format", "json").stdout)
    assert sorted(r["params.fold"] for r in rows if r["params.fold"] is not None) == [1, 2]
