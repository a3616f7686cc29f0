"""Audit arrays on the 3-node test bed with the store on GlusterFS, their tasks run as on
nodes whose $HOME is read-only (no usable per-user cache): what the tasks share is in the
store, every array has a job record, and status, cancel and gc see the audit while it runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.audit.conftest import cli
from tests.conftest import DII, run_cli, until


def on_testbed(test: Any) -> Any:
    """The 3-node test cluster with the store on GlusterFS."""
    return pytest.mark.slurm(pytest.mark.multinode(pytest.mark.sharedfs(test)))


# what a task sees on a node whose $HOME cannot be written: no ~/.cache, no $DII_HPC_CACHE
NO_HOME = ["export HOME=/proc/dii-hpc-no-home", "unset DII_HPC_CACHE"]


def _registered(root: Path) -> str:
    """The demo breast-cancer model registered in the store: array tasks load its weights
    from there (no per-user cache needed)."""
    from dii_hpc.examples.tabular import breast_cancer_model
    from dii_hpc.registry.registry import Registry
    from dii_hpc.store.store import Store
    from dii_hpc.tracking.run import start_run

    model = breast_cancer_model()
    store = Store(root)
    with start_run("bc-train", store=store) as run:
        run.log_artifact(model.weights_path, name="model.pt")
    reg = Registry(store)
    reg.register(run.id, "bc", loader="dii_hpc.examples.tabular:breast_cancer_model")
    reg.set_alias("bc", 1, "champion")
    return "models:/bc@champion"


def _config(path: Path, experiment: str, model: str, minutes: str = "10") -> Path:
    """An evasion suite of 7 shards (fgsm + 6 curve points); `task:` given, so only the
    array tasks (and the merge) build the model."""
    path.write_text(json.dumps({
        "experiment": experiment, "model": model, "task": "tabular_classification",
        "data": "dii_hpc.examples.tabular:breast_cancer_data", "n_samples": 40,
        "attacks": ["fgsm"], "resources": {"time": minutes}, "setup": NO_HOME}))
    return path


def _records(root: Path) -> list[dict[str, Any]]:
    from dii_hpc.store.atomic import read_json

    return [read_json(p) for p in sorted((root / "jobs").glob("*.json"))]


def _states(job_ids: list[str]) -> set[str]:
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "State", "-j", ",".join(job_ids)],
                         capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@on_testbed
@pytest.mark.slow
def test_shards_and_job_folder_are_in_the_store_with_a_job_record(
        cluster_nodes: list[str], shared_store: Path, tmp_path: Path, demo_cache: Path) -> None:
    from dii_hpc.store.gc import gc
    from dii_hpc.store.store import Store

    cfg = _config(tmp_path / "a.yaml", "arrays", _registered(shared_store))
    out = tmp_path / "r.json"
    assert cli("audit", "suite", "evasion", "--config", str(cfg), "--executor", "slurm",
               "--json", str(out)) == 0
    result = json.loads(out.read_text())
    assert result["slurm"]["array_tasks"] == 7
    assert result["resumed_shards"] == 7  # the merge found every shard the tasks wrote
    (record,) = _records(shared_store)
    assert record["arrays"] == [result["slurm"]["job_id"]] and record["experiment"] == "arrays"
    folder = shared_store / "jobs" / record["submission_id"]
    assert len(list(folder.rglob("*_log.out"))) == 7  # submitit's folder is the store's
    store = Store(shared_store)
    run = store.run(result["run_id"])
    assert run["status"] == "FINISHED" and run["start_time"] < record["submitted"]  # open meanwhile
    assert run["audit"]["metrics"]["clean_accuracy"] > 0.8
    assert not list((shared_store / "cache" / "audit-shards").glob("*/*.json"))  # merged
    # gc keeps the folder while the scheduler still has a task of it (exiting: COMPLETING),
    # then removes it (`launch.storefolder`: the audit's array record names no run)
    until("the array's tasks to end", lambda: _states(record["arrays"]) == {"COMPLETED"})
    assert gc(store, older_than=0, dry_run=True)["job_folders"] == [record["submission_id"]]


@on_testbed
def test_a_failed_array_task_is_reported_by_its_exception(
        cluster_nodes: list[str], shared_store: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from dii_hpc.launch.status import reconcile
    from dii_hpc.store.store import Store

    cfg = _config(tmp_path / "b.yaml", "arrays-fail", "tests.audit.factories:corrupt_weights")
    assert cli("audit", "suite", "evasion", "--config", str(cfg), "--executor", "slurm") == 3
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "failed: BadInput: model: tests.audit.factories:corrupt_weights() failed: " \
           "ValueError: weights file is corrupt: unexpected end of data" in line, line
    assert "_log." not in line
    (row,) = reconcile(Store(shared_store), "arrays-fail")  # the audit run, as status shows it
    assert row["status"] == "FAILED" and "ValueError: weights file is corrupt" in row["error"]
    (record,) = _records(shared_store)
    assert record["experiment"] == "arrays-fail" and len(record["arrays"]) == 1


@on_testbed
def test_a_queued_audit_is_a_pending_run_that_cancel_stops_with_its_array(
        cluster_nodes: list[str], shared_store: Path, tmp_path: Path) -> None:
    from dii_hpc.store.store import Store

    cfg = _config(tmp_path / "c.yaml", "arrays-chain", "tests.audit.factories:loads_for_minutes",
                  minutes="5")
    proc = run_cli("audit", "suite", "evasion", "--config", str(cfg), "--executor", "slurm",
                   "--no-wait")
    assert proc.returncode == 0, proc.stderr
    (record,) = _records(shared_store)
    ((run_id, merge),) = record["runs"].items()
    array = next(a for a in record["arrays"] if a != merge)
    assert f"run {run_id} in experiment arrays-chain" in proc.stdout
    status = run_cli("status", "arrays-chain", "--all")
    assert status.returncode == 0 and run_id in status.stdout, status.stdout + status.stderr
    until("the array to start", lambda: "RUNNING" in _states([array]))
    assert run_cli("cancel", "arrays-chain").returncode == 0
    until("array and merge job cancelled", lambda: _states([array, merge]) == {"CANCELLED"})
    assert Store(shared_store).run(run_id)["status"] == "CANCELLED"


@on_testbed
def test_cancel_stops_a_waiting_audit_and_its_array(cluster_nodes: list[str],
                                                    shared_store: Path, tmp_path: Path) -> None:
    from dii_hpc.store.store import Store

    cfg = _config(tmp_path / "d.yaml", "arrays-wait", "tests.audit.factories:loads_for_minutes",
                  minutes="5")
    proc = subprocess.Popen([DII, "audit", "suite", "evasion", "--config", str(cfg),
                             "--executor", "slurm"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        (record,) = until("the array's job record", lambda: _records(shared_store))
        (run,) = Store(shared_store).records("arrays-wait")
        assert run["status"] == "RUNNING"  # the audit's run, open while it waits
        until("the array to start", lambda: "RUNNING" in _states(record["arrays"]))
        assert run_cli("cancel", "arrays-wait").returncode == 0
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, err
    assert err.strip().endswith("cancelled (dii-hpc cancel); its audit shards array was "
                                "cancelled"), err
    until("the array cancelled", lambda: _states(record["arrays"]) == {"CANCELLED"})
    assert Store(shared_store).run(run["run_id"])["status"] == "CANCELLED"


def test_a_failed_task_is_named_by_the_last_exception_of_its_traceback() -> None:
    from dii_hpc.launch.waiting import exception_line

    trace = (
        "Traceback (most recent call last):\n  File \"a.py\", line 3, in f\n    g()\n"
        "ValueError: weights file is corrupt\n\nThe above exception was the direct cause of "
        "the following exception:\n\nTraceback (most recent call last):\n"
        "  File \"b.py\", line 9, in build\n    raise BadInput(msg) from err\n"
        "dii_hpc.errors.BadInput: model: m() failed: ValueError: weights file is corrupt\n")
    assert exception_line(trace) == \
        "BadInput: model: m() failed: ValueError: weights file is corrupt"
    assert exception_line("KeyError: 'x'\n") == "KeyError: 'x'"
