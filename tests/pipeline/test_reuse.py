"""Issue 26 item 3 on the local executor: a stage is reused only when every file it reads is
unchanged, wherever the pipeline names it (relative paths too), and only within the folder
its placeholders and its command point at."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dii_hpc.pipeline import submit
from dii_hpc.records import pipeline as records
from dii_hpc.store.store import Store


@pytest.fixture()
def store(store_path: Path) -> Store:
    return Store(store_path)


def _submit(folder: Path, obj: dict, store: Store) -> submit.Submitted:
    path = folder / "p.yaml"
    path.write_text(json.dumps(obj))
    return submit.submit(path, store, "local")


def _ran(res: submit.Submitted) -> dict[str, bool]:
    assert all(r.state == "FINISHED" for r in res.stages.values()), res.stages
    return {n: not r.reused for n, r in res.stages.items()}


def test_an_edited_file_named_by_a_relative_path_runs_its_stage_again(
        tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("ref.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    Path("myscript.py").write_text("import sys\nopen(sys.argv[2], 'w').write(open(sys.argv[1]).read())\n")
    Path("input.txt").write_text("first\n")
    obj = {"pipeline": "rel", "stages": {
        "prof": {"profile": {"name": "rel-mon", "data": "ref.csv"}},
        "copy": {"command": "python myscript.py input.txt {work}/copy.txt"}}}
    assert _ran(_submit(tmp_path, obj, store)) == {"prof": True, "copy": True}
    assert _ran(_submit(tmp_path, obj, store)) == {"prof": False, "copy": False}

    Path("ref.csv").write_text("a,b\n1,2\n3,4\n5,7\n")
    assert _ran(_submit(tmp_path, obj, store)) == {"prof": True, "copy": False}
    Path("input.txt").write_text("second\n")
    assert _ran(_submit(tmp_path, obj, store)) == {"prof": False, "copy": True}
    work = records.work_dir(store.root, "rel")
    assert (work / "copy.txt").read_text() == "second\n"
    Path("myscript.py").write_text("import sys\nopen(sys.argv[2], 'w').write('edited')\n")
    assert _ran(_submit(tmp_path, obj, store)) == {"prof": False, "copy": True}
    assert (work / "copy.txt").read_text() == "edited"


def test_a_stage_writing_to_work_is_not_reused_from_a_pipeline_with_another_work(
        tmp_path: Path, store: Store) -> None:
    def lifecycle(name: str) -> dict:
        return {"pipeline": name, "stages": {
            "note": {"command": ["python", "-c", "open('{work}/note.txt', 'w').write('ok')"]},
            "read": {"command": ["python", "-c", "assert open('{work}/note.txt').read() == 'ok'"],
                     "needs": ["note"]}}}

    assert _ran(_submit(tmp_path, lifecycle("first"), store)) == {"note": True, "read": True}
    second = _submit(tmp_path, lifecycle("second"), store)
    assert _ran(second) == {"note": True, "read": True}
    assert (records.work_dir(store.root, "second") / "note.txt").read_text() == "ok"


def test_a_command_runs_in_the_folder_pipeline_submit_ran_in(
        tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder its relative arguments were hashed in, wherever the stage job starts (here:
    a resume from another folder)."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    obj = {"pipeline": "cwd", "stages": {"where": {"command": "python -c \"import os; "
                                                   "open('{work}/cwd.txt', 'w').write(open('go').read())\""}}}
    res = _submit(tmp_path, obj, store)
    assert res.stages["where"].state == "FAILED"  # no ./go yet
    (here / "go").write_text("went")
    monkeypatch.chdir(tmp_path)
    again = submit.resume(store, res.id, {"where": "FAILED"})
    assert _ran(again) == {"where": True}
    assert (records.work_dir(store.root, "cwd") / "cwd.txt").read_text() == "went"
