"""The same MLflow script, run against MLflow and against dii_hpc.mlflow: same params,
metric histories (steps and values), tags, artifacts and search_runs columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dii_hpc.store.store import Store

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPT = HERE / "mlflow_example.py"
SYSTEM_TAGS = ("mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.parentRunId")


def _run(script: Path, tmp: Path, env: dict[str, str]) -> dict[str, Any]:
    full = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_ALLOW_FILE_STORE": "true", **env}
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp,
                         env=full, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def _their_runs(uri: str) -> dict[str, dict[str, Any]]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("mlflow-quickstart")
    out = {}
    for run in client.search_runs([exp.experiment_id]):
        files, stack = [], [None]
        while stack:
            for a in client.list_artifacts(run.info.run_id, stack.pop()):
                (stack if a.is_dir else files).append(a.path)
        out[run.info.run_name] = {
            "params": run.data.params, "tags": run.data.tags, "artifacts": sorted(files),
            "status": run.info.status,
            "metrics": {k: [(m.step, m.value) for m in sorted(
                client.get_metric_history(run.info.run_id, k), key=lambda m: m.step)]
                for k in run.data.metrics}}
    return out


def _our_runs(store: Store) -> dict[str, dict[str, Any]]:
    out = {}
    for rec in store.records("mlflow-quickstart"):
        rid = rec["run_id"]
        out[rec["tags"]["mlflow.runName"]] = {
            "params": {k: str(v) for k, v in rec["params"].items()}, "tags": rec["tags"],
            "artifacts": sorted(store.artifacts(rid)), "status": rec["status"],
            "metrics": {k: [(int(s), v) for s, v, _ in store.metric_array(rid, k).tolist()]
                        for k in store.metric_keys(rid)}}
    return out


def test_one_script_two_backends_same_results(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    text = SCRIPT.read_text()
    their_script = tmp_path / "theirs.py"  # outside any git checkout, as ours is
    their_script.write_text(text)
    theirs_out = _run(their_script, tmp_path, {"MLFLOW_TRACKING_URI": uri})
    ours_script = tmp_path / "ours.py"
    assert text.count("import mlflow  #") == 1
    ours_script.write_text(text.replace("import mlflow  #", "import dii_hpc.mlflow as mlflow  #"))
    ours_out = _run(ours_script, tmp_path, {"DII_HPC_STORE": str(tmp_path / "store")})
    assert "mlflow" not in _imported_by(ours_script, tmp_path)  # MLflow itself is not needed

    ours_cols = set(ours_out.pop("columns"))
    theirs_cols = set(theirs_out.pop("columns"))
    assert ours_cols == theirs_cols, (ours_cols ^ theirs_cols)
    assert ours_out == theirs_out  # counts, filter, order, statuses, params as strings
    theirs = _their_runs(uri)
    ours = _our_runs(Store(tmp_path / "store"))
    assert sorted(ours) == sorted(theirs) == ["baseline", "evaluation"]
    for name in theirs:
        assert ours[name]["params"] == theirs[name]["params"]
        assert ours[name]["metrics"] == theirs[name]["metrics"]
        assert ours[name]["artifacts"] == theirs[name]["artifacts"]
        assert set(ours[name]["tags"]) == set(theirs[name]["tags"])
        for key, value in theirs[name]["tags"].items():
            if key not in SYSTEM_TAGS:
                assert ours[name]["tags"][key] == value
    assert ours["evaluation"]["tags"]["mlflow.parentRunId"] == \
        Store(tmp_path / "store").records("mlflow-quickstart")[0]["run_id"]


def _imported_by(script: Path, tmp: Path) -> list[str]:
    """Top-level modules a dii_hpc.mlflow script loads (checked once, after it ran)."""
    probe = tmp / "probe.py"
    probe.write_text(script.read_text().replace('if __name__ == "__main__":', "if False:")
                     + "\nimport sys\nprint(sorted({m.split('.')[0] for m in sys.modules}))\n")
    res = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True,
                         cwd=tmp, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    return eval(res.stdout.strip().splitlines()[-1])  # noqa: S307 - our own printed list


def test_filters_mlflow_users_write_find_the_runs_mlflow_finds(tmp_path: Path,
                                                               monkeypatch: Any) -> None:
    """Params are strings ('1', '1.0'), a run without the key never matches (!= included), a
    bare identifier is an attribute, LIKE/ILIKE/IS NULL, order_by: as MLflow's own store."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    text = (HERE / "mlflow_search_example.py").read_text()
    theirs_script, ours_script = tmp_path / "theirs.py", tmp_path / "ours.py"
    theirs_script.write_text(text)
    assert text.count("import mlflow  #") == 1
    ours_script.write_text(text.replace("import mlflow  #", "import dii_hpc.mlflow as mlflow  #"))
    theirs = _run(theirs_script, tmp_path, {"MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri()})
    ours = _run(ours_script, tmp_path, {"DII_HPC_STORE": str(tmp_path / "store")})
    assert theirs["found"]["params.fold = '1'"] == ["parent"]  # the script means what it says
    for text, names in theirs["found"].items():
        assert ours["found"][text] == names, text
    assert ours["ordered"] == theirs["ordered"]
    for column in ("fold", "ratio"):  # strings; NaN (here None) where a run has none
        assert _nan_as_none(ours[column]) == _nan_as_none(theirs[column]), column


def _nan_as_none(values: list[Any]) -> list[Any]:
    return [None if isinstance(v, float) and v != v else v for v in values]


@pytest.mark.parametrize("call", ["autolog", "pytorch", "log_model", "register_model"])
def test_unsupported_names_fail_with_their_name(call: str) -> None:
    import dii_hpc.mlflow as ours
    from dii_hpc.errors import NotSupported

    with pytest.raises(NotSupported, match=rf"mlflow\.{call} is not supported"):
        getattr(ours, call)
    assert not hasattr(ours, call)
