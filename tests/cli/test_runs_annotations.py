"""`dii-hpc runs tag|note|archive`: what the report later shows, and the one-line errors."""

from __future__ import annotations

from pathlib import Path

import dii_hpc
from dii_hpc.store.store import Store
from tests.conftest import run_cli

ENV = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def test_tag_note_archive_and_undo(store_path: Path) -> None:
    with dii_hpc.start_run("e", tags={"team": "vision"}) as run:
        run.log_metric("loss", 1.0, step=0)
    prefix = run.id[:10]
    res = run_cli("runs", "tag", prefix, "stage=prod", "owner=ana", env=ENV)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"{run.id}: team=vision stage=prod owner=ana"
    assert run_cli("runs", "tag", run.id, "--remove", "team", env=ENV).returncode == 0
    assert run_cli("runs", "note", run.id, "diverged after lr warm-up", env=ENV).returncode == 0
    assert run_cli("runs", "archive", run.id, env=ENV).stdout.strip() == f"{run.id}: archived"
    rec = Store(store_path).run(run.id)
    assert rec["tags"] == {"stage": "prod", "owner": "ana"}
    assert rec["note"] == "diverged after lr warm-up" and rec["archived"] is True
    assert list((store_path / "experiments" / "e" / ".changed").iterdir())  # compaction sees it
    run_cli("runs", "archive", "--undo", run.id, env=ENV)
    run_cli("runs", "note", run.id, "", env=ENV)
    rec = Store(store_path).run(run.id)
    assert rec["archived"] is False and rec["note"] is None


def test_bad_annotations_are_one_line_and_exit_2(store_path: Path) -> None:
    with dii_hpc.start_run("e") as run:
        pass
    live = dii_hpc.start_run("e")
    try:
        for args, words in [
            (["runs", "tag", "01ABCDEFGHJKMNPQRSTVWXYZ01", "a=b"], "unknown run"),
            (["runs", "tag", run.id, "novalue"], "expected KEY=VALUE"),
            (["runs", "tag", run.id, "--remove", "nope"], "has no tag 'nope'"),
            (["runs", "tag", run.id, "../x=1"], "invalid tag name"),
            (["runs", "note", "zzzzzzzz", "x"], "unknown run"),
            (["runs", "archive", live.id], "is still being written"),
        ]:
            res = run_cli(*args, env=ENV)
            lines = res.stderr.strip().splitlines()
            assert res.returncode == 2 and len(lines) == 1 and words in lines[0], (args,
                                                                                  res.stderr)
    finally:
        live.finish()
