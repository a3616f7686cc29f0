"""`dii-hpc run -- CMD` locally: metrics attach, logs, exit code decides the status."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dii_hpc.store.store import Store
from tests.conftest import DII, default_signals, run_cli
from tests.launch.fixtures import progress as progress_steps

REPO = Path(__file__).resolve().parents[2]


def test_command_run_is_tracked(store_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import os, sys, dii_hpc\n"
        "for i in range(4):\n    dii_hpc.log_metric('loss', 1.0 / (i + 1), step=i)\n"
        "print('out line'); print('err line', file=sys.stderr)\n"
        "assert 'SECRET_TOKEN' in os.environ\n")
    proc = run_cli("run", "--executor", "local", "-e", "cmds", "--sys-metrics-s", "0.2", "--", sys.executable,
                   str(script), env={"SECRET_TOKEN": "hunter2"}, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    store = Store(store_path)
    (rec,) = store.records("cmds")
    assert rec["status"] == "FINISHED" and rec["params"]["exit_code"] == 0
    assert rec["metrics"]["loss"]["count"] == 4 and rec["metrics"]["loss"]["last"] == 0.25
    man = rec["manifest"]
    assert man["command"][-1] == str(script) and man["git"].get("commit")
    assert "SECRET_TOKEN" not in str(man) and "hunter2" not in str(man)
    logs = run_cli("logs", rec["run_id"], cwd=REPO)
    assert "out line" in logs.stdout and "err line" in logs.stdout
    only_err = run_cli("logs", rec["run_id"], "--stream", "stderr", cwd=REPO)
    assert only_err.stdout.strip() == "err line"


def test_failing_command_is_failed_and_exit_3(store_path: Path) -> None:
    proc = run_cli("run", "--executor", "local", "-e", "cmds", "--sys-metrics-s", "0", "--", sys.executable, "-c",
                   "import sys; sys.exit(4)", cwd=REPO)
    assert proc.returncode == 3 and "exited with code 4" in proc.stderr
    (rec,) = Store(store_path).records("cmds")
    assert rec["status"] == "FAILED" and rec["error"] == "command exited with code 4"


def test_sys_metrics_are_sampled(store_path: Path) -> None:
    proc = run_cli("run", "--executor", "local", "-e", "cmds", "--sys-metrics-s", "0.2", "--", sys.executable, "-c",
                   "import time; x = bytearray(30_000_000); time.sleep(1.2)", cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    store = Store(store_path)
    (rec,) = store.records("cmds")
    assert rec["metrics"]["sys/rss_mb"]["max"] > 25
    assert rec["metrics"]["sys/cpu_percent"]["count"] >= 3


def test_local_ranks_of_one_command_are_one_run(store_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "ranks.py"
    script.write_text("import os, dii_hpc\nr = int(os.environ['RANK'])\n"
                      "assert os.environ['WORLD_SIZE'] == '2' and os.environ['MASTER_PORT']\n"
                      "for i in range(3):\n    dii_hpc.log_metric('rank', r, step=i)\n"
                      "import time; time.sleep(0.6)\nprint('rank', r)\n")  # > one sys sample
    proc = run_cli("run", "--executor", "local", "--tasks-per-node", "2", "--all-ranks",
                   "--sys-metrics-s", "0.2", "-e", "lranks", "--", sys.executable, str(script),
                   cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    store = Store(store_path)
    (rec,) = store.records("lranks")
    assert rec["status"] == "FINISHED" and rec["launch"]["world_size"] == 2
    keys = store.metric_keys(rec["run_id"])
    assert {"rank0/rank", "rank1/rank"} <= set(keys)
    assert store.metric_array(rec["run_id"], "rank1/rank")[:, 1].tolist() == [1.0, 1.0, 1.0]
    assert rec["metrics"]["rank1/rank"]["count"] == 3  # rank 1's summary, whenever it flushed
    assert any(k.startswith("sys/") for k in rec["metrics"])  # the node sampler's too
    logs = store.run_dir(rec["run_id"]) / "logs"
    assert (logs / "rank1.out").read_text().strip() == "rank 1"


def test_a_failing_local_rank_fails_the_run_with_its_last_line(store_path: Path,
                                                               tmp_path: Path) -> None:
    script = tmp_path / "bad.py"
    script.write_text("import os, time\nif os.environ['RANK'] == '1':\n"
                      "    raise ValueError('rank one is broken')\ntime.sleep(60)\n")
    proc = run_cli("run", "--executor", "local", "--tasks-per-node", "2", "--sys-metrics-s", "0",
                   "-e", "lbad", "--", sys.executable, str(script), cwd=REPO, timeout=120)
    assert proc.returncode == 3
    (rec,) = Store(store_path).records("lbad")
    assert rec["status"] == "FAILED"
    assert rec["error"].startswith("rank 1 (") and "ValueError: rank one is broken" in rec["error"]


def test_local_executor_cannot_span_nodes(store_path: Path) -> None:
    proc = run_cli("run", "--executor", "local", "--nodes", "2", "-e", "x", "--", "true", cwd=REPO)
    assert proc.returncode == 2 and "nodes: 2 asked, but the local executor" in proc.stderr
    assert not store_path.exists() or not (store_path / "experiments" / "x").exists()


SLEEPY = REPO / "tests" / "launch" / "fixtures" / "sleepy.py"


def _sleepy_run(tmp_path: Path, experiment: str) -> tuple[subprocess.Popen[str], Path]:
    """`dii-hpc run --executor local -- python sleepy.py` in a process group of its own (a
    terminal's foreground job): its first line of progress is the script's pid."""
    progress = tmp_path / "progress.txt"
    proc = subprocess.Popen([DII, "run", "--executor", "local", "-e", experiment,
                             "--sys-metrics-s", "0", "--", sys.executable, str(SLEEPY),
                             str(progress)], cwd=REPO, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=default_signals)
    return proc, progress


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_group_of_a_local_run_keeps_every_point(store_path: Path, tmp_path: Path,
                                                                sig: int) -> None:
    """#14 items 1-2: `killpg(SIGTERM)` reaches the child twice (forwarded + group) and hung
    it for 655 s; Ctrl-C (SIGINT to the group) stored 0 of 4 printed points."""
    proc, progress = _sleepy_run(tmp_path, "group")
    logged = progress_steps.wait_for(progress, 8, alive=lambda: proc.poll() is None)[1:]
    os.killpg(proc.pid, sig)
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"{signal.Signals(sig).name} to the group hung the run")
    store = Store(store_path)
    (rec,) = store.records("group")
    assert rec["status"] == "KILLED", rec
    progress_steps.assert_stored(store, rec["run_id"], "x", logged)


def test_kill_9_of_a_local_run_takes_its_child_and_status_stays_failed(store_path: Path,
                                                                       tmp_path: Path) -> None:
    """#14 item 4: `kill -9` of `dii-hpc run` orphaned the child; `status` said FAILED, then
    the child's heartbeat made the run RUNNING again."""
    proc, progress = _sleepy_run(tmp_path, "orphan")
    lines = progress_steps.wait_for(progress, 3, alive=lambda: proc.poll() is None)
    child = lines[0]
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)

    def child_gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        return False

    try:
        progress_steps.wait_until(child_gone, 30, "the child to die with its parent")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    assert run_cli("status", "orphan", cwd=REPO).returncode == 0
    store = Store(store_path)
    (rec,) = store.records("orphan")
    assert rec["status"] == "FAILED"
    # the child is gone (waited for above): nothing can heartbeat the run back to RUNNING; a
    # second reconciliation keeps it FAILED
    assert run_cli("status", "orphan", cwd=REPO).returncode == 0
    assert store.run(rec["run_id"])["status"] == "FAILED"
