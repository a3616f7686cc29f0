"""What a run's writer writes, and when: the opening sections in the one write that creates
the run (merged one level into a resumed run's), record changes held for the next write
(`Run.deferring`), artifacts.json of a new run kept by its writer, a run that logged nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dii_hpc
from dii_hpc.store import records
from dii_hpc.store.store import Store


def _disk(store: Store, run_id: str) -> dict[str, Any]:
    return records.read_record(store.run_dir(run_id))


def test_a_new_run_opens_with_its_sections_and_a_resumed_one_merges_them(
        store_path: Path) -> None:
    store = Store(store_path)
    run = dii_hpc.start_run("e", store=store, params={"a": 1},
                            fields={"manifest": {"host": "h1", "seed": 3},
                                    "launch": {"executor": "local"}})
    on_disk = _disk(store, run.id)  # the first and only write so far
    assert on_disk["status"] == "RUNNING" and on_disk["params"] == {"a": 1}
    assert on_disk["manifest"] == {"host": "h1", "seed": 3}
    assert on_disk["launch"] == {"executor": "local"}
    assert run.record == on_disk  # what it wrote, as a reader reads it: no read back
    run.finish("KILLED", "requeued")
    again = dii_hpc.start_run("e", store=store, run_id=run.id,
                              fields={"manifest": {"host": "h2"}, "slurm": {"job_id": "7"}})
    on_disk = _disk(store, run.id)
    assert on_disk["status"] == "RUNNING" and on_disk["attempts"] == 2
    assert on_disk["manifest"] == {"host": "h2", "seed": 3}  # merged, as update_run merges
    assert on_disk["slurm"] == {"job_id": "7"}
    again.finish()


def test_changes_inside_deferring_go_out_with_the_next_write(store_path: Path) -> None:
    store = Store(store_path)
    run = dii_hpc.start_run("e", store=store)
    with run.deferring():
        run.log_params({"p": 2})
        run.log_result({"score": 0.5})
        assert "p" not in _disk(store, run.id)["params"]  # held
    run.flush()  # the next write, e.g. the end's
    on_disk = _disk(store, run.id)
    assert on_disk["params"]["p"] == 2
    assert on_disk["metrics"]["score"]["last"] == 0.5
    with run.deferring():
        run.set_tags({"t": "x"})
    run.finish()
    assert _disk(store, run.id)["tags"]["t"] == "x" and _disk(store, run.id)["status"] == \
        "FINISHED"


def test_artifacts_of_a_new_run_and_of_a_resumed_one_are_all_kept(
        store_path: Path, tmp_path: Path) -> None:
    store = Store(store_path)
    files = []
    for name in ("a.txt", "b.txt", "c.txt"):
        files.append(tmp_path / name)
        files[-1].write_text(name)
    with dii_hpc.start_run("e", store=store) as run:
        run.log_artifact(files[0])
        run.log_artifact(files[1])
    with dii_hpc.start_run("e", store=store, run_id=run.id) as again:  # reads what is there
        again.log_artifact(files[2])
    assert sorted(store.artifacts(run.id)) == ["a.txt", "b.txt", "c.txt"]
    assert Path(store.artifacts(run.id)["b.txt"]["path"]).read_text() == "b.txt"


def test_a_run_that_logged_nothing_reads_fine(store_path: Path) -> None:
    store = Store(store_path)
    with dii_hpc.start_run("e", store=store, params={"x": 1}) as run:
        pass
    assert not (store.run_dir(run.id) / "metrics.zarr").exists()  # made on the first point
    assert store.metric_keys(run.id) == [] and store.artifacts(run.id) == {}
    row = store.runs("e").iloc[0]
    assert row["status"] == "FINISHED" and row["params.x"] == 1
