"""`--executor slurm`: LiRA's 8 reference models as ONE Slurm array on the 3-node test
cluster (a GPU per task from the config's `resources:`), the store on GlusterFS; then an
audit of another target with the same population and recipe reuses every model: no job."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dii_hpc.slurm.nodelist import expand
from tests.conftest import run_cli, until

pytestmark = [pytest.mark.slurm, pytest.mark.multinode, pytest.mark.sharedfs, pytest.mark.slow]

RECIPE = {"hidden": 128, "epochs": 150, "lr": 3e-3, "batch_size": 128}
EXPERIMENT = "lira-array"


def _config(path: Path, params: dict[str, object]) -> Path:
    path.write_text(json.dumps({
        "experiment": EXPERIMENT, "data": "dii_hpc.examples.tabular:noisy_data",
        "model": {"factory": "dii_hpc.examples.tabular:noisy_model", "params": params},
        "resources": {"time": "10", "gpus_per_task": 1}}))
    return path


def _array_jobs() -> list[str]:
    """Array tasks of this test's job name that Slurm accounting knows about."""
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-S", "now-1days", "-o", "JobID",
                          f"--name=dii-reference-{EXPERIMENT}"], capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.split() if line.strip()]


def _ended_tasks(job_id: str, n: int) -> list[str]:
    """The array's n tasks as sacct lists them ("id|state|nodes"), once none is still pending,
    running or completing: the audit has every result as soon as the tasks wrote them, a
    moment before Slurm records their end."""
    from dii_hpc.slurm.sacct import normalise_state
    from dii_hpc.vocabulary import TERMINAL

    def ended() -> list[str] | None:
        tasks = subprocess.run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o",
                                "JobID,State,NodeList"], capture_output=True, text=True,
                               check=True).stdout.strip().splitlines()
        done = len(tasks) == n and all(normalise_state(t.split("|")[1]) in TERMINAL
                                       for t in tasks)
        return tasks if done else None

    tasks: list[str] = until(f"the {n} tasks of array {job_id} to end", ended, 60)
    return tasks


def test_reference_models_train_as_one_array_and_a_second_audit_reuses_them(
        cluster_nodes: list[str], shared_store: Path, tmp_path: Path, demo_cache: Path) -> None:
    import torch

    from dii_hpc.examples.tabular import noisy_data, noisy_model

    target = noisy_model(**RECIPE)  # trained once here (demo cache), not in every task
    before = _array_jobs()
    first = tmp_path / "first.json"
    proc = run_cli("audit", "attack", "lira", "-c", str(_config(tmp_path / "a.yaml", RECIPE)),
                   "-p", "n_reference=8", "--executor", "slurm", "--json", str(first),
                   timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(first.read_text())
    training = result["reference_training"]
    assert (training["models"], training["trained"], training["reused"]) == (8, 8, 0)
    job_id = training["job_id"]
    tasks = _ended_tasks(job_id, 8)
    assert len(tasks) == 8 and all(t.split("|")[1] == "COMPLETED" for t in tasks), tasks
    assert {t.split("|")[0].split("_")[0] for t in tasks} == {job_id}  # one array
    nodes = {n for t in tasks for n in expand(t.split("|")[2])}
    assert len(nodes) >= 2 and nodes <= set(cluster_nodes)
    folder = Path(training["folder"])
    assert folder.is_relative_to(shared_store)  # kept in the store, on the shared filesystem
    from dii_hpc.store.atomic import read_json

    (record,) = [read_json(p) for p in (shared_store / "jobs").glob("*.json")]  # the array's
    assert record["arrays"] == [job_id] and record["experiment"] == EXPERIMENT
    assert list((shared_store / "jobs" / record["submission_id"]).rglob(f"{job_id}_*_log.out"))
    metas = [json.loads((folder / key / "model.json").read_text())
             for key in result["attacks"][0]["reference_models"]["keys"]]
    assert all(m["job"] and m["node"] in nodes for m in metas)  # each trained in a task
    assert all(m["gpus"] not in (None, "") for m in metas)  # a GPU per task, as configured
    assert result["metrics"]["auc"] > result["metrics"]["baseline_auc"]

    # another target: the same recipe retrained on part of the data, its own weights file
    x, y = noisy_data().get_train_data()
    target.fit(x[:300], y[:300])
    weights = tmp_path / "target2.pt"
    torch.save(target.module.state_dict(), weights)
    second = tmp_path / "second.json"
    proc = run_cli("audit", "attack", "lira", "-c",
                   str(_config(tmp_path / "b.yaml", {**RECIPE, "weights": str(weights)})),
                   "-p", "n_reference=8", "--executor", "slurm", "--json", str(second),
                   timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    again = json.loads(second.read_text())
    assert again["reference_training"]["trained"] == 0
    assert again["reference_training"]["job_id"] is None
    assert again["attacks"][0]["reference_models"]["keys"] == \
        result["attacks"][0]["reference_models"]["keys"]
    assert again["metrics"] != result["metrics"]  # another target, scored on the same models
    assert len(_array_jobs()) == len(before) + 8  # the first array's 8 tasks, nothing since
