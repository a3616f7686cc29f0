"""`dii-hpc pipeline submit|status|cancel|resume|list` through the real CLI: bad input is one
line, exit 2, nothing written; a local run prints the id last; status JSON's shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.pipeline.conftest import lifecycle, sweep_config

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, name: str, obj: object) -> Path:
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    return {"sweep": _write(tmp_path, "sweep.yaml", sweep_config()),
            "policy": _write(tmp_path, "policy.yaml", {"training": {"val_acc": ">= 0.3"}})}


@pytest.mark.parametrize("edit,message", [
    (lambda s: s["best"].update(needs=["gate"]),
     "stage best: cycle in needs: best -> gate -> best"),
    (lambda s: s["note"].update(needs=["bset"]),
     "stage note: needs unknown stage 'bset' (did you mean best?); stages: train, best, gate, "
     "promote, note, site"),
    (lambda s: s["train"].update(set={"resources.cpus": 2}),
     "stage train: --set resources.cpus=2: resources.cpus: unknown key"),
    (lambda s: s["gate"]["gate"].update(to="Champ ion"), "stage gate: "),
    (lambda s: s["site"].update(report={"outdir": "x"}),
     "stage site: p.yaml:1: report.outdir: unknown key; did you mean out?"),
])
def test_bad_pipelines_are_one_line_exit_2_nothing_written(edit, message: str,  # noqa: ANN001
                                                          files: dict[str, Path], tmp_path: Path,
                                                          store_path: Path) -> None:
    obj = lifecycle(files)
    edit(obj["stages"])
    path = _write(tmp_path, "p.yaml", obj)
    proc = run_cli("pipeline", "submit", str(path), "--executor", "local", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = message.replace("p.yaml", str(path)).replace("SWEEP", str(files["sweep"]))
    assert proc.stderr.startswith("dii-hpc: error: " + message)
    assert proc.stderr.count("\n") == 1 and not store_path.exists()


def test_local_submit_prints_the_id_last_and_status_json(files: dict[str, Path], tmp_path: Path,
                                                         store_path: Path) -> None:
    path = _write(tmp_path, "p.yaml", lifecycle(files))
    proc = run_cli("pipeline", "submit", str(path), "--executor", "local", cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pid = proc.stdout.strip().splitlines()[-1]
    assert len(pid) == 26 and "6 FINISHED, 0 reused" in proc.stdout
    view = json.loads(run_cli("pipeline", "status", pid[:10], "--format", "json").stdout)
    assert view["id"] == pid and view["state"] == "FINISHED"
    assert set(view["stages"]) == {"train", "best", "gate", "promote", "note", "site"}
    for stage in view["stages"].values():
        assert {"state", "jobs", "reused"} <= set(stage) and stage["state"] == "FINISHED"
    again = run_cli("pipeline", "submit", str(path), "--executor", "local", cwd=REPO)
    assert "nothing ran, 6 reused" in again.stdout
    table = run_cli("pipeline", "status", again.stdout.split()[-1]).stdout
    assert table.count("reused (") == 6 and "FINISHED" in table.splitlines()[0]
    listing = run_cli("pipeline", "list").stdout
    assert pid in listing and listing.count("pl-test") == 2
    assert "nothing to resume" in run_cli("pipeline", "resume", pid).stdout
    assert "cancelled 0 stage(s)" in run_cli("pipeline", "cancel", pid).stdout
    site = Path(view["stages"]["site"]["outputs"]["index"]).parent
    page = (site / "pipelines" / f"{pid}.html").read_text()
    assert 'class="pipeline-graph"' in page and "stage-promote" in page


def test_a_failed_stage_is_exit_1_after_the_run(files: dict[str, Path], tmp_path: Path,
                                                store_path: Path) -> None:
    strict = _write(tmp_path, "strict.yaml", {"training": {"val_acc": ">= 0.9"}})
    obj = lifecycle({**files, "strict": strict}, policy="strict")
    proc = run_cli("pipeline", "submit", str(_write(tmp_path, "p.yaml", obj)), "--executor",
                   "local", cwd=REPO)
    assert proc.returncode == 1
    assert "FAILED training: val_acc >= 0.9: val_acc = 0.4" in proc.stdout
    assert len(proc.stdout.strip().splitlines()[-1]) == 26  # the id, still on the last line


def test_unknown_ids_and_options(store_path: Path) -> None:
    store_path.mkdir(parents=True)  # a read command needs the store (a typo is "no store at")
    proc = run_cli("pipeline", "status", "NOPE")
    assert proc.returncode == 2 and proc.stderr == "dii-hpc: error: unknown pipeline 'NOPE'\n"
    proc = run_cli("pipeline", "submit", "x.yaml", "--executor", "debug")
    assert proc.returncode == 2 and "--executor debug: expected one of auto, local, slurm" in proc.stderr
    proc = run_cli("audit", "suite", "evasion", "--config",
                   str(REPO / "configs" / "audit-digits-suite.yaml"), "--no-wait")
    assert proc.returncode == 2 and "--no-wait goes with --executor slurm" in proc.stderr


def test_list_prints_times_as_runs_list_does(tmp_path: Path, store_path: Path) -> None:
    """Issue 26: `pipeline list` printed epochs (1.797e+09)."""
    from dii_hpc.records import pipeline as records

    records.write_pipeline(store_path, records.PipelineRecord(
        id="01TESTLIST", name="listed", executor="local", order=["a"], created=1_797_000_000.0))
    proc = run_cli("pipeline", "list")
    assert proc.returncode == 0, proc.stderr
    row = proc.stdout.splitlines()[-1].split()
    assert row[:4] == ["01TESTLIST", "listed", "local", "1"]
    assert " ".join(row[4:]) == "2026-12-11 14:40:00"  # UTC, as `runs list` prints start_time


def test_a_profile_stage_without_its_data_file_is_refused_at_submit(tmp_path: Path,
                                                                   store_path: Path) -> None:
    """Issue 26: the missing reference file surfaced only when the stage ran."""
    path = _write(tmp_path, "p.yaml", {"pipeline": "prof", "stages": {
        "ref": {"profile": {"name": "m", "data": "missing.csv"}}}})
    proc = run_cli("pipeline", "submit", str(path), "--executor", "local", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == (f"dii-hpc: error: stage ref: profile.data: {tmp_path.resolve()}/missing.csv: "
                           "no such file (a file another stage makes is named under {work})\n")
    assert not store_path.exists()
