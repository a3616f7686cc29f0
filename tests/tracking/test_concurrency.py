"""Many writers, one experiment; and writers killed without warning."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dii_hpc.store.store import Store

_WRITER = """
import sys, dii_hpc
i = int(sys.argv[1])
with dii_hpc.start_run("shared", params={"writer": i}) as run:
    for s in range(10_000):
        run.log_metrics({"a": s * 1.0 + i, "b": -s * 1.0, "c/d": s * 0.5}, step=s)
"""


@pytest.mark.slow
def test_32_concurrent_writers_lose_nothing(store_path: Path) -> None:
    env = {**os.environ, "DII_HPC_STORE": str(store_path), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(i)], env=env) for i in range(32)]
    assert [p.wait(timeout=600) for p in procs] == [0] * 32
    store = Store(store_path)
    df = store.runs("shared")
    assert len(df) == 32 and set(df["status"]) == {"FINISHED"}
    steps = np.arange(10_000)
    for row in df.itertuples():
        i = int(store.run(row.run_id)["params"]["writer"])
        a = store.metric_history(row.run_id, "a")
        assert a["step"].tolist() == steps.tolist()
        np.testing.assert_array_equal(a["value"].to_numpy(), steps + i)
        np.testing.assert_array_equal(store.metric_history(row.run_id, "b")["value"], -steps)
        np.testing.assert_array_equal(store.metric_history(row.run_id, "c/d")["value"], steps * 0.5)


_VICTIM = """
import sys, time, dii_hpc
with dii_hpc.start_run("victim", flush_points=1000, flush_interval=3600) as run:
    print(run.id, flush=True)
    s = 0
    while True:
        run.log_metric("x", float(s), step=s)
        s += 1
        if s % 1000 == 0:
            print("flushing", flush=True)
            run.flush()
            print(s, flush=True)
"""


def test_sigkill_leaves_a_readable_store_with_everything_flushed(store_path: Path) -> None:
    """Killed while it writes: after 20 flushes, as soon as it says it begins the next one
    (buffered points on their way to the arrays, none of them yet confirmed)."""
    env = {**os.environ, "DII_HPC_STORE": str(store_path)}
    proc = subprocess.Popen([sys.executable, "-c", _VICTIM], stdout=subprocess.PIPE, text=True, env=env)
    rid = proc.stdout.readline().strip()
    flushed = 0
    while True:
        line = proc.stdout.readline().strip()
        assert line, "the writer exited before it was killed"
        if line != "flushing":
            flushed = int(line)
        elif flushed >= 20_000:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store(store_path)
    df = store.runs("victim")
    assert df["run_id"].tolist() == [rid] and df["status"].tolist() == ["RUNNING"]
    from dii_hpc.store.records import writer_gone

    assert "is gone" in writer_gone(store.run(rid))  # so status can end it FAILED
    hist = store.metric_history(rid, "x")
    assert len(hist) >= flushed
    assert hist["step"].tolist() == list(range(len(hist)))
    assert hist["value"].tolist() == [float(s) for s in range(len(hist))]
