"""Signals reaching a process with an open run (issue 14, items 1 and 2): a second SIGTERM or
SIGINT while the run flushes neither hangs it nor loses points, and the run ends KILLED.

Each child makes the second signal land inside the flush deterministically: its metric
writer sends the signal to its own process when it starts writing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dii_hpc.store.store import Store
from tests.conftest import default_signals

# The writer signals its own process once, when it first starts writing points: the copy of
# a signal that `kill -TERM $P; kill -TERM $P` or a group's Ctrl-C sends while the run flushes.
_SIGNAL_IN_FLUSH = """
import os, signal, sys, time
from dii_hpc.store import metrics
original = metrics.MetricWriter.append_many
def append_many(self, blocks):
    if not getattr(metrics, "signalled", False):
        metrics.signalled = True
        os.kill(os.getpid(), {sig})
        time.sleep(0.05)  # the handler runs now, inside the flush
    return original(self, blocks)
metrics.MetricWriter.append_many = append_many
import dii_hpc
"""


def _child(body: str, store: Path, sig: int | None = None) -> subprocess.Popen[str]:
    head = _SIGNAL_IN_FLUSH.format(sig=int(sig)) if sig is not None else "import dii_hpc, time\n"
    return subprocess.Popen([sys.executable, "-c", head + body], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_signals,
                            env={**os.environ, "DII_HPC_STORE": str(store)})


_WITH_RUN = """
with dii_hpc.start_run("sig", flush_interval=3600, flush_points=10**7) as run:
    for s in range(500):
        run.log_metric("x", float(s), step=s)
    print(run.id, flush=True)
    time.sleep(60)
"""


def test_a_second_sigterm_during_the_flush_does_not_hang(store_path: Path) -> None:
    proc = _child(_WITH_RUN, store_path, signal.SIGTERM)
    rid = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the second SIGTERM, received during the flush, hung the process")
    assert code == 128 + signal.SIGTERM, proc.stderr.read()
    rec = Store(store_path).run(rid)
    assert rec["status"] == "KILLED" and "SIGTERM" in rec["error"]
    assert Store(store_path).metric_history(rid, "x")["step"].tolist() == list(range(500))


_MANY = """
run = dii_hpc.start_run("sig", flush_interval=3600, flush_points=10**8)
with run:
    for s in range(300_000):  # a flush of several chunks: long enough to be interrupted
        run.log_metric("x", float(s), step=s)
    print(run.id, flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_two_signals_a_millisecond_apart(store_path: Path, sig: int) -> None:
    proc = _child(_MANY, store_path)
    rid = proc.stdout.readline().strip()
    proc.send_signal(sig)
    time.sleep(0.001)
    proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("two signals a millisecond apart hung the process")
    rec = Store(store_path).run(rid)
    assert rec["status"] == "KILLED", (rec["status"], proc.stderr.read()[-2000:])
    assert len(Store(store_path).metric_history(rid, "x")) == 300_000


# No `with`: a script that uses the run until Ctrl-C, which ends it at interpreter exit.
_NO_WITH = """
run = dii_hpc.start_run("sig", flush_interval=3600, flush_points=10**7)
for s in range(500):
    run.log_metric("x", float(s), step=s)
print(run.id, flush=True)
time.sleep(60)
"""


def test_sigint_inside_the_exit_flush_keeps_the_buffer_and_ends_killed(store_path: Path) -> None:
    proc = _child(_NO_WITH, store_path, signal.SIGINT)
    rid = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) != 0
    rec = Store(store_path).run(rid)
    assert rec["status"] == "KILLED", (rec, proc.stderr.read()[-2000:])
    assert "SIGINT" in rec["error"]
    assert Store(store_path).metric_history(rid, "x")["step"].tolist() == list(range(500))


_EXPLICIT_FLUSH = """
with dii_hpc.start_run("sig", flush_interval=3600, flush_points=10**7) as run:
    print(run.id, flush=True)
    for s in range(500):
        run.log_metric("x", float(s), step=s)
    run.flush()  # Ctrl-C lands in here: the flush completes first, then the interrupt
    print("not reached", flush=True)
"""


def test_ctrl_c_during_an_explicit_flush_comes_after_it(store_path: Path) -> None:
    proc = _child(_EXPLICIT_FLUSH, store_path, signal.SIGINT)
    rid = proc.stdout.readline().strip()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "not reached" not in out and "KeyboardInterrupt" in err
    rec = Store(store_path).run(rid)
    assert rec["status"] == "KILLED"
    assert Store(store_path).metric_history(rid, "x")["step"].tolist() == list(range(500))


_PREEMPTED = """
import pathlib, sys
with dii_hpc.start_run("sig", flush_interval=3600, flush_points=10**7) as run:
    for s in range(300):
        run.log_metric("x", float(s), step=s)
    print(run.id, flush=True)
    go = pathlib.Path(sys.argv[1])
    while not go.exists():
        time.sleep(0.02)
    run.log_metric("x", 300.0, step=300)
"""


def test_the_preempt_signal_flushes_and_the_run_goes_on(store_path: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    proc = subprocess.Popen([sys.executable, "-c", "import dii_hpc, time\n" + _PREEMPTED, str(go)],
                            stdout=subprocess.PIPE, text=True, preexec_fn=default_signals,
                            env={**os.environ, "DII_HPC_STORE": str(store_path)})
    rid = proc.stdout.readline().strip()
    store = Store(store_path)
    proc.send_signal(signal.SIGUSR2)
    deadline = time.time() + 30
    while "x" not in store.metric_keys(rid) or len(store.metric_history(rid, "x")) < 300:
        assert time.time() < deadline, "the preempt signal did not flush the buffer"
        time.sleep(0.05)
    assert store.run(rid)["status"] == "RUNNING"
    go.touch()
    assert proc.wait(timeout=60) == 0
    assert store.run(rid)["status"] == "FINISHED"
    assert store.metric_history(rid, "x")["step"].tolist() == list(range(301))


_ENDS_BY_ITSELF = """
run = dii_hpc.start_run("sig", flush_interval=3600, flush_points=10**7)
for s in range(50):
    run.log_metric("x", float(s), step=s)
print(run.id, flush=True)
run.finish()  # the SIGTERM lands in this end's flush
print("went on", flush=True)
"""


def test_a_sigterm_while_a_run_ends_by_itself_stops_the_process_after_the_end(
        store_path: Path) -> None:
    """Seen on the cluster: an Optuna worker's SIGTERM (scancel) landed while its trial's
    run was ending and was absorbed, so the worker began another trial until Slurm's KILL."""
    proc = _child(_ENDS_BY_ITSELF, store_path, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    rid = out.splitlines()[0].strip()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "went on" not in out  # it stopped as asked, once the end was written
    rec = Store(store_path).run(rid)
    assert rec["status"] == "FINISHED"  # the run had ended by itself: that end stands
    assert Store(store_path).metric_history(rid, "x")["step"].tolist() == list(range(50))
