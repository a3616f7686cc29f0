"""On the real single-node cluster (scripts/slurm-up.sh): 200,000 rows in 8 shards as ONE array,
bit-identical to a single process; a killed shard (marker + chunk deleted, or its array task
scancelled) is recomputed alone by the rerun. Skipped when Slurm does not answer."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from dii_hpc import Store
from dii_hpc.inference import demo, output
from tests.conftest import DII, default_signals, run_cli, until
from tests.inference.conftest import MODEL, plain_loop

pytestmark = pytest.mark.slurm  # skipped without a cluster: tests/conftest.py


def _tasks(out: Path, n: int) -> list[str]:
    return [output.done(out, i)["task"] for i in range(n)]


@pytest.mark.slow
def test_200k_rows_in_8_shards_as_one_array(store_path: Path, tmp_path: Path) -> None:
    demo.write_data(tmp_path / "data", 200_000, files=3, fmt="parquet", seed=5)
    out = tmp_path / "preds"
    args = ("predict", "--model", MODEL, "--data", str(tmp_path / "data" / "*.parquet"),
            "--out", str(out), "--executor", "slurm", "--shards", "8", "--batch-size", "1024",
            "--experiment", "slurm-inference")
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert "8 computed" in res.stdout
    store = Store()
    rec = store.run(store.runs(experiment="slurm-inference").iloc[0]["run_id"])
    array = rec["inference"]["array_job_id"]
    assert rec["inference"]["shards"] == 8 and rec["slurm"]["array_job_id"] == array
    assert _tasks(out, 8) == [f"{array}_{i}" for i in range(8)]  # one array, task i = shard i

    ref = plain_loop(demo.make_rows(200_000, seed=5), 1024)
    got = output.read_outputs(out)
    assert np.array_equal(got["output"], ref) and np.array_equal(got["prediction"], ref.argmax(1))

    for name in ("output", "prediction"):
        for f in output.chunk_files(out, name, 5):
            f.unlink()
    output.done_path(out, 5).unlink()
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert "1 computed, 7 already done" in res.stdout
    tasks = _tasks(out, 8)
    assert tasks[5].split("_")[0] != array and all(t.startswith(f"{array}_") for i, t in
                                                    enumerate(tasks) if i != 5)
    assert np.array_equal(output.read_outputs(out)["output"], ref)


def _array_of(name: str, timeout: float = 60) -> str:
    end = time.time() + timeout
    while time.time() < end:
        ids = subprocess.run(["squeue", "-h", "-n", name, "-o", "%F"], capture_output=True,
                             text=True).stdout.split()
        if ids:
            return ids[0]
        time.sleep(0.3)
    raise AssertionError(f"no job named {name} appeared")


@pytest.mark.slow
def test_scancelled_array_task_is_recomputed_alone(store_path: Path, tmp_path: Path) -> None:
    demo.write_data(tmp_path / "data", 8000, files=1, fmt="csv", seed=6)
    cfg = tmp_path / "predict.yaml"
    cfg.write_text("experiment: cancel-demo\nresources:\n  array_parallelism: 1\n  time: '00:05:00'\n")
    out = tmp_path / "preds"
    args = [DII, "predict", "--config", str(cfg), "--model", MODEL, "--data",
            str(tmp_path / "data" / "*.csv"), "--out", str(out), "--executor", "slurm",
            "--shards", "4", "--batch-size", "500"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    array = _array_of("dii-predict-cancel-demo")
    subprocess.run(["scancel", f"{array}_3"], check=True)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 3, err
    assert "1 of 4 shard(s) failed (3)" in err and len(err.strip().splitlines()) == 1
    assert [output.done(out, i) is not None for i in range(4)] == [True, True, True, False]
    rec = json.loads(next(Path(store_path).rglob("run.json")).read_text())
    assert rec["status"] == "FAILED" and rec["inference"]["failed"].keys() == {"3"}

    res = run_cli(*args[1:])
    assert res.returncode == 0, res.stderr
    assert "1 computed, 3 already done" in res.stdout
    ref = plain_loop(demo.make_rows(8000, seed=6), 500)
    assert np.array_equal(output.read_outputs(out)["output"], ref)


def _sacct_states(array: str) -> set[str]:
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-j", array, "-o", "State"],
                         capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize("how", ["cli", "noted-elsewhere"])
def test_cancel_of_a_waiting_prediction_cancels_its_array(store_path: Path, tmp_path: Path,
                                                          how: str) -> None:
    """The array is held in the queue; `dii-hpc cancel` of the prediction run (on this host:
    SIGTERM to the waiting process; from another: the note in the store) cancels it. Before,
    the held array stayed queued after the waiting process was gone, or nothing stopped."""
    from tests.inference.test_cancel import cancel

    demo.write_data(tmp_path / "data", 1000, files=1, fmt="csv", seed=7)
    experiment = f"held-{how}"
    cfg = tmp_path / "predict.yaml"
    cfg.write_text(f"experiment: {experiment}\nresources:\n  time: '00:05:00'\n"
                   "  extra:\n    hold: true\n")
    proc = subprocess.Popen([DII, "predict", "--config", str(cfg), "--model", MODEL, "--data",
                             str(tmp_path / "data" / "*.csv"), "--out", str(tmp_path / "o"),
                             "--executor", "slurm", "--shards", "2", "--batch-size", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)
    try:
        array = _array_of(f"dii-predict-{experiment}")
        until("the prediction run", lambda: len(Store().runs(experiment=experiment)))
        cancel(how, experiment)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode != 0, err
        until("the array cancelled", lambda: _sacct_states(array) == {"CANCELLED"}, 60)
        (rid,) = Store().runs(experiment=experiment)["run_id"]
        assert Store().run(rid)["status"] == "CANCELLED", err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["scancel", "-n", f"dii-predict-{experiment}"], check=False)


def test_cancel_finds_the_array_of_a_prediction_whose_process_was_killed(
        store_path: Path, tmp_path: Path) -> None:
    """The waiting process is killed outright (kill -9: no handler runs) while its array is
    held in the queue; `dii-hpc cancel` of the run still cancels the array, through the job
    record that names it (`predict-<run>.json`). Before, nothing named the array: it stayed."""
    demo.write_data(tmp_path / "data", 1000, files=1, fmt="csv", seed=8)
    cfg = tmp_path / "predict.yaml"
    cfg.write_text("experiment: orphaned\nresources:\n  time: '00:05:00'\n"
                   "  extra:\n    hold: true\n")
    proc = subprocess.Popen([DII, "predict", "--config", str(cfg), "--model", MODEL, "--data",
                             str(tmp_path / "data" / "*.csv"), "--out", str(tmp_path / "o"),
                             "--executor", "slurm", "--shards", "2", "--batch-size", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        array = _array_of("dii-predict-orphaned")
        until("the array's job record", lambda: list(Path(store_path, "jobs").glob("predict-*.json")))
        proc.kill()
        proc.wait()
        held = subprocess.run(["squeue", "-h", "-j", array, "-o", "%T"], capture_output=True,
                              text=True, check=True).stdout.split()
        assert held and set(held) == {"PENDING"}  # nobody will cancel it but the user
        assert run_cli("cancel", "orphaned").returncode == 0
        until("the array cancelled", lambda: _sacct_states(array) == {"CANCELLED"}, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["scancel", "-n", "dii-predict-orphaned"], check=False)
