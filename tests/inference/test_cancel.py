"""`dii-hpc cancel` of a prediction run stops its shard tasks, not only the process waiting for
them: with `dii-hpc cancel` on the host of that process (SIGTERM), and with the cancel noted in
the store from another host (the waiting process sees it). Before, SIGTERM ended the waiting
process and left its local shard processes (or its Slurm array, tests/inference/test_slurm.py)
running, and a cancel from another host changed nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dii_hpc import Store
from dii_hpc.inference import demo
from tests.conftest import DII, default_signals, run_cli, until

HELD = '''
import os
import time
from pathlib import Path

class Held:
    """Each shard task announces its process, then waits for the test's release file."""
    input_columns = [f"f{i}" for i in range(20)]

    def predict(self, x):
        here = Path(__file__).parent
        if "SUBMITIT_LOCAL_JOB_ID" in os.environ or "SLURM_ARRAY_TASK_ID" in os.environ:
            (here / f"started-{os.getpid()}").touch()  # a shard task, not predict's own probe
            while not (here / "release").exists():
                time.sleep(0.05)
        return x.sum(axis=1)

def build():
    return Held()
'''


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has ended, only its parent is late
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def start(tmp_path: Path, experiment: str, executor: str, extra: list[str]) -> subprocess.Popen[str]:
    (tmp_path / "held.py").write_text(HELD)
    np.savez(tmp_path / "d.npz", x=demo.make_rows(200, seed=4), columns=np.array(demo.COLUMNS))
    return subprocess.Popen(
        [DII, "predict", "--model", f"{tmp_path / 'held.py'}:build", "--data",
         str(tmp_path / "d.npz"), "--out", str(tmp_path / "o"), "--executor", executor,
         "--shards", "2", "--batch-size", "50", "--experiment", experiment, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)


def cancel(how: str, experiment: str) -> None:
    if how == "cli":  # this host: the note, then SIGTERM to the waiting process
        assert run_cli("cancel", experiment).returncode == 0
    else:  # another host: `dii-hpc cancel` there can only leave the note in the store
        from dii_hpc.store import records

        store = Store()
        (rid,) = store.runs(experiment=experiment)["run_id"]
        records.request_cancel(store.run_dir(rid))


@pytest.mark.parametrize("how", ["cli", "noted-elsewhere"])
def test_cancel_stops_the_local_shard_processes(store_path: Path, tmp_path: Path,
                                                how: str) -> None:
    proc = start(tmp_path, "held-local", "local", [])
    try:
        pids = until("both shard processes", lambda: [
            int(p.name.split("-")[1]) for p in tmp_path.glob("started-*")] if len(
                list(tmp_path.glob("started-*"))) == 2 else None)
        (row,) = Store().runs(experiment="held-local").to_dict("records")
        assert row["status"] == "RUNNING"
        cancel(how, "held-local")
        _, err = proc.communicate(timeout=90)
        assert proc.returncode != 0, err
        until("the shard processes to end", lambda: not any(alive(p) for p in pids), 30)
        assert Store().run(row["run_id"])["status"] == "CANCELLED", err
    finally:
        (tmp_path / "release").touch()  # whatever is left ends
        if proc.poll() is None:
            proc.kill()
            proc.wait()
