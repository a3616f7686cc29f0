"""A small pipeline on the local executor: stage after stage, reuse, failures, resume."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dii_hpc.pipeline import status, submit
from dii_hpc.records import pipeline as records
from dii_hpc.registry.registry import Registry
from dii_hpc.store.store import Store
from tests.pipeline.conftest import lifecycle


@pytest.fixture()
def store(store_path: Path) -> Store:
    return Store(store_path)


def _submit(write: Callable[..., Path], obj: dict, store: Store, name: str = "p.yaml"):  # noqa: ANN202
    return submit.submit(write(name, obj), store, "local")


def _states(res: submit.Submitted) -> dict[str, str]:
    return {n: str(r.state) for n, r in res.stages.items()}


def test_lifecycle_runs_stage_after_stage_then_a_second_submit_runs_nothing(
        write: Callable[..., Path], files: dict[str, Path], store: Store) -> None:
    first = _submit(write, lifecycle(files), store)
    assert _states(first) == dict.fromkeys(first.order, "FINISHED")
    best = first.stages["best"].outputs or {}
    train_runs = (first.stages["train"].outputs or {})["runs"]
    assert len(train_runs) == 2 and best["value"] == pytest.approx(0.4)
    assert best["model"] == "models:/pl-model/1"  # named by the gate/promote stages after it
    reg = Registry(store)
    assert reg.alias_version("pl-model", "champion") == 1
    assert reg.version("pl-model", 1)["run_id"] == best["run_id"]
    work = records.work_dir(store.root, "pl-test")
    assert (work / "note.txt").read_text() == "ok"
    assert Path((first.stages["site"].outputs or {})["index"]).is_file()
    record = records.read_pipeline(store.root, first.id)
    assert record.depths["site"] == 4 and record.executor == "local"

    runs_before = set(store.runs()["run_id"])
    again = _submit(write, lifecycle(files), store)
    assert again.id != first.id
    assert all(r.reused and r.reused_from == first.id for r in again.stages.values())
    assert set(store.runs()["run_id"]) == runs_before  # nothing ran
    assert [v["version"] for v in reg.versions("pl-model")] == [1]
    view = status.status(store, again.id)
    assert view["state"] == "FINISHED"
    assert {n: (s["state"], s["reused"]) for n, s in view["stages"].items()} == \
        dict.fromkeys(first.order, ("FINISHED", True))
    assert view["stages"]["best"]["outputs"] == best


def test_a_failing_gate_stops_promote_and_names_the_rule(write: Callable[..., Path],
                                                          files: dict[str, Path], store: Store) -> None:
    _submit(write, lifecycle(files), store)
    res = _submit(write, lifecycle(files, policy="strict"), store, "p-strict.yaml")
    assert _states(res) == {"train": "FINISHED", "best": "FINISHED", "gate": "FAILED",
                            "promote": "CANCELLED", "note": "FINISHED", "site": "CANCELLED"}
    rule = "FAILED training: val_acc >= 0.9: val_acc = 0.4"
    assert str(res.stages["gate"].error).startswith("models:/pl-model/1 not passed to champion: " + rule)
    assert str(res.stages["promote"].error).startswith("needs gate, which FAILED: models:/pl-model/1")
    assert rule in str(res.stages["site"].error)  # the failure, not the cancelled stage between
    view = status.status(store, res.id)
    assert view["state"] == "FAILED" and rule in view["stages"]["promote"]["error"]

    # fix the policy, resume: only what did not finish runs again
    files["strict"].write_text(json.dumps({"training": {"val_acc": ">= 0.1"}}))
    again = submit.resume(store, res.id, {n: s["state"] for n, s in view["stages"].items()})
    assert again.order == ["gate", "promote", "site"]
    after = status.status(store, res.id)
    assert after["state"] == "FINISHED"
    assert after["stages"]["train"]["reused"] and not after["stages"]["gate"]["reused"]


def test_a_failed_sweep_cancels_everything_after_it_with_the_reason(
        write: Callable[..., Path], files: dict[str, Path], store: Store) -> None:
    res = _submit(write, lifecycle(files, sweep="boom"), store)
    assert res.stages["train"].state == "FAILED"
    assert "ValueError: exploded on purpose" in str(res.stages["train"].error)
    for name in ("best", "gate", "promote", "note", "site"):
        assert res.stages[name].state == "CANCELLED"
        assert str(res.stages[name].error).startswith("needs train, which FAILED: run ")
    assert not (records.root(store.root) / "cache").exists() or not any(
        (records.root(store.root) / "cache").iterdir())  # nothing finished, nothing kept


def test_command_tasks_and_resume_refuses_a_running_stage(write: Callable[..., Path],
                                                          store: Store) -> None:
    obj = {"pipeline": "tasks", "stages": {
        "split": {"command": ["python", "-c", "open('{work}/part{task}', 'w').write('x')"],
                  "tasks": 3}}}
    res = _submit(write, obj, store)
    assert res.stages["split"].state == "FINISHED"
    assert sorted(p.name for p in records.work_dir(store.root, "tasks").iterdir()) == \
        ["part0", "part1", "part2"]
    with pytest.raises(Exception, match="stage split is still RUNNING"):
        submit.resume(store, res.id, {"split": "RUNNING"})
    assert submit.resume(store, res.id, {"split": "FINISHED"}).stages == {}
