from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import dii_hpc
from dii_hpc.errors import BadInput
from dii_hpc.store.store import Store


def test_run_ends_finished_and_records_params_tags(store_path: Path) -> None:
    with dii_hpc.start_run("e", params={"lr": 0.1}, tags={"team": "x"}) as run:
        run.log_params({"epochs": 3})
        run.set_tags({"stage": "dev"})
        run.log_metric("loss", 0.5)
    rec = Store().run(run.id)
    assert rec["status"] == "FINISHED" and rec["end_time"] >= rec["start_time"]
    assert rec["params"] == {"lr": 0.1, "epochs": 3}
    assert rec["tags"] == {"team": "x", "stage": "dev"}


def test_exception_ends_failed_with_one_line_summary(store_path: Path) -> None:
    with pytest.raises(ValueError), dii_hpc.start_run("e") as run:
        run.log_metric("loss", 1.0, step=0)
        raise ValueError("diverged at step 7\nlong details")
    rec = Store().run(run.id)
    assert rec["status"] == "FAILED" and rec["error"] == "ValueError: diverged at step 7"
    assert rec["metrics"]["loss"]["count"] == 1  # flushed before the end state


def test_keyboard_interrupt_ends_killed(store_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), dii_hpc.start_run("e") as run:
        run.log_metric("loss", 1.0)
        raise KeyboardInterrupt
    assert Store().run(run.id)["status"] == "KILLED"


def test_nan_and_inf_round_trip_and_auto_steps(store_path: Path) -> None:
    vals = [1.0, math.nan, math.inf, -math.inf, np.float32(2.5), 3]
    with dii_hpc.start_run("e") as run:
        for v in vals:
            run.log_metric("x", v)
    hist = Store().metric_history(run.id, "x")
    assert hist["step"].tolist() == [0, 1, 2, 3, 4, 5]
    got = hist["value"].to_numpy()
    np.testing.assert_array_equal(got, np.array([1.0, np.nan, np.inf, -np.inf, 2.5, 3.0]))


@pytest.mark.parametrize(
    ("key", "value", "step", "match"),
    [("loss", "abc", 1, "not a number"), ("loss", None, 1, "not a number"),
     ("loss", 1.0, 1.5, "not an integer"), ("loss", 1.0, "3", "not an integer"),
     ("../up", 1.0, 1, "escape"), ("loss", 1.0, -1, "negative"), ("loss", 1.0, 2**64, "too large"),
     ("loss", [1.0, 2.0], 1, "not a number"), ("loss", np.array([1.0, 2.0]), 1, "not a number"),
     (["loss"], 1.0, 1, "non-empty string")],
)
def test_bad_metric_input_is_refused(store_path: Path, key, value, step, match) -> None:  # noqa: ANN001
    with dii_hpc.start_run("e") as run:
        with pytest.raises(BadInput, match=match):
            run.log_metric(key, value, step=step)  # a new key (slow path)
        run.log_metric("loss", 0.5, step=0)
        with pytest.raises(BadInput, match=match):
            run.log_metric(key, value, step=step)  # a known key (fast path)
    assert Store().metric_history(run.id, "loss")["value"].tolist() == [0.5]


def test_bools_and_numpy_scalars_are_numbers_on_both_paths(store_path: Path) -> None:
    with dii_hpc.start_run("e") as run:
        run.log_metric("x", True, step=np.int64(0))
        run.log_metric("x", np.float32(0.25), step=np.int32(1))
        run.log_metric("x", False)
    hist = Store().metric_history(run.id, "x")
    assert hist["step"].tolist() == [0, 1, 2] and hist["value"].tolist() == [1.0, 0.25, 0.0]


def test_logging_after_the_run_ended_is_refused_not_dropped(store_path: Path) -> None:
    with dii_hpc.start_run("e") as run:
        run.log_metric("x", 1.0)
    with pytest.raises(BadInput, match="has ended"):
        run.log_metric("x", 2.0)


def test_a_buffer_over_its_cap_is_flushed_by_the_logging_thread(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dii_hpc.tracking import run as run_module

    monkeypatch.setattr(run_module, "BUFFER_CAP_BYTES", 0)  # cap = 4 x flush_points
    with dii_hpc.start_run("e", flush_points=10, flush_interval=3600) as run:
        run._stop.set()  # the flush thread stalls (as on a hung filesystem)
        run._wake.set()
        run._thread.join(10)
        run._stop.clear()
        for s in range(200):
            run.log_metric("x", float(s), step=s)
            run._fast_ids.clear()  # what the stalled thread's poll does once over the cap
            assert len(run._buf) <= 41 * run_module._RECORD.size
        assert len(Store().metric_history(run.id, "x")) >= 160


def test_missing_artifact_is_refused(store_path: Path, tmp_path: Path) -> None:
    with dii_hpc.start_run("e") as run, pytest.raises(BadInput, match="does not exist"):
        run.log_artifact(tmp_path / "nope.pt")


def test_resume_continues_without_duplicating_steps(store_path: Path) -> None:
    with dii_hpc.start_run("e") as run:
        for s in range(10):
            run.log_metric("loss", float(s), step=s)
        run.log_metric("auto", 1.0)
    rid = run.id
    # a requeued attempt replays from its last checkpoint (step 6) and goes on to 14
    with dii_hpc.start_run("e", run_id=rid) as again:
        for s in range(6, 15):
            again.log_metric("loss", float(s) + 0.5 * (s < 10), step=s)
        again.log_metric("auto", 2.0)
    hist = Store().metric_history(rid, "loss")
    assert hist["step"].tolist() == list(range(15))
    assert hist["value"].tolist() == [float(s) for s in range(15)]
    assert Store().metric_history(rid, "auto")["step"].tolist() == [0, 1]
    rec = Store().run(rid)
    assert rec["attempts"] == 2 and rec["status"] == "FINISHED"


def test_size_triggered_flush_is_visible_to_a_reader(store_path: Path) -> None:
    with dii_hpc.start_run("e", flush_points=100, flush_interval=3600) as run:
        for s in range(1000):
            run.log_metric("x", float(s), step=s)
        deadline = time.time() + 20
        while time.time() < deadline:
            keys = Store().metric_keys(run.id)
            if keys and len(Store().metric_history(run.id, "x")) >= 900:
                break
            time.sleep(0.05)
        seen = Store().metric_history(run.id, "x")
        assert len(seen) >= 900  # everything flushed so far, while the writer is still open
        assert seen["value"].tolist() == [float(s) for s in range(len(seen))]


def test_time_triggered_flush(store_path: Path) -> None:
    with dii_hpc.start_run("e", flush_interval=0.2) as run:
        run.log_metric("x", 1.0)
        deadline = time.time() + 10
        while time.time() < deadline and Store().run(run.id)["metrics"].get("x") is None:
            time.sleep(0.05)
        assert Store().run(run.id)["metrics"]["x"]["count"] == 1


_CHILD = """
import os, sys, time, dii_hpc
run = dii_hpc.start_run("sig", flush_interval=3600)
with run:
    for s in range(500):
        run.log_metric("x", float(s), step=s)
    print(run.id, flush=True)
    time.sleep(60)
"""


def test_sigterm_flushes_and_ends_killed(store_path: Path) -> None:
    from tests.conftest import default_signals

    proc = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "DII_HPC_STORE": str(store_path)},
                            preexec_fn=default_signals)
    rid = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    rec = Store(store_path).run(rid)
    assert rec["status"] == "KILLED"
    assert len(Store(store_path).metric_history(rid, "x")) == 500


_ATTACHED = """
import dii_hpc
dii_hpc.log_metric("from_child", 7.0, step=3)
dii_hpc.log_params({"child": True})
"""


def test_a_launched_process_attaches_through_the_environment(store_path: Path) -> None:
    store = Store()
    rid = store.create_run("launched", status="RUNNING")
    env = {**os.environ, "DII_HPC_STORE": str(store_path), "DII_HPC_RUN_ID": rid}
    subprocess.run([sys.executable, "-c", _ATTACHED], check=True, env=env, timeout=120)
    rec = store.run(rid)
    assert rec["status"] == "RUNNING"  # the launcher, not the child, decides the end state
    assert rec["params"] == {"child": True}
    assert store.metric_history(rid, "from_child")["step"].tolist() == [3]


def test_module_level_functions_need_a_run(store_path: Path) -> None:
    with pytest.raises(BadInput, match="no active run"):
        dii_hpc.log_metric("x", 1.0)
    with dii_hpc.start_run("e") as run:
        dii_hpc.log_metrics({"a": 1.0, "b": 2.0}, step=0)
    assert Store().metric_keys(run.id) == ["a", "b"]


def test_a_forked_child_does_not_end_or_flush_the_parents_run(store_path: Path) -> None:
    import multiprocessing as mp

    def child() -> None:
        assert dii_hpc.active_run() is None  # the parent's run is not the child's

    with dii_hpc.start_run("fork") as run:
        run.log_metric("x", 1.0, step=0)
        proc = mp.get_context("fork").Process(target=child)
        proc.start()
        proc.join(60)
        assert proc.exitcode == 0
        assert Store().run(run.id)["status"] == "RUNNING"
        run.log_metric("x", 2.0, step=1)
    assert Store().run(run.id)["status"] == "FINISHED"
    assert Store().metric_history(run.id, "x")["value"].tolist() == [1.0, 2.0]


def test_resume_with_keys_whose_segment_is_named_like_zarr_chunk_folders(store_path: Path) -> None:
    with dii_hpc.start_run("e") as run:
        run.log_metrics({"c/d": 1.0, "x/c/0": 3.0}, step=0)
    with dii_hpc.start_run("e", run_id=run.id) as again:
        again.log_metrics({"c/d": 1.5, "x/c/0": 3.5}, step=1)
        with pytest.raises(BadInput, match="conflicts with 'c/d'"):
            again.log_metric("c", 1.0)
    store = Store()
    assert store.metric_keys(run.id) == ["c/d", "x/c/0"]
    assert store.metric_history(run.id, "c/d")["value"].tolist() == [1.0, 1.5]


_EXIT_CHILD = """
import dii_hpc
run = dii_hpc.start_run("exit", flush_interval=3600, flush_points=10**8)
for s in range(30000):  # several chunks, written by the appender's thread pool at exit
    run.log_metric("x", float(s), step=s)
print(run.id, flush=True)
"""


def test_a_big_buffer_is_flushed_at_interpreter_exit(store_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", _EXIT_CHILD], capture_output=True, text=True,
                          env={**os.environ, "DII_HPC_STORE": str(store_path)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    hist = Store().metric_history(proc.stdout.strip(), "x")
    assert hist["step"].tolist() == list(range(30000))


def test_the_packed_record_and_its_numpy_view_agree() -> None:
    from dii_hpc.tracking import run as run_module

    dtype = run_module._point_dtype()
    assert dtype.itemsize == run_module._RECORD.size == 28
    rec = np.frombuffer(run_module._RECORD.pack(3, 7, 0.5, 1.7e9), dtype=dtype)[0]
    assert (int(rec["key"]), int(rec["step"]), float(rec["value"]), float(rec["time"])) == (3, 7, 0.5, 1.7e9)


def test_on_metric_sees_only_its_key_and_its_raise_reaches_the_caller(store_path: Path) -> None:
    seen: list[tuple[float, int | None]] = []

    class Stop(Exception):
        pass

    def watch(value: float, step: int | None) -> None:
        seen.append((value, step))
        if value > 3:
            raise Stop

    with dii_hpc.start_run("e") as run:
        run.log_metric("acc", 0.5, step=0)  # on the fast path before it is watched
        run.on_metric("acc", watch)
        for i in range(3):
            run.log_metric("loss", 1.0 / (i + 1), step=i)
            run.log_metric("acc", float(i + 1), step=i + 1)
        with pytest.raises(Stop):
            run.log_metric("acc", 3.5)
        run.on_metric("acc", None)
        run.log_metric("acc", 9.0)  # no longer watched
    assert seen == [(1.0, 1), (2.0, 2), (3.0, 3), (3.5, None)]
    steps = Store().metric_array(run.id, "acc")[:, 0].tolist()
    assert steps == [0, 1, 2, 3, 4, 5]  # the point that raised is stored


def test_a_key_named_like_the_stores_files_is_refused_up_front(store_path: Path) -> None:
    """#14 item 5: `zarr.json` was accepted, then the run stayed RUNNING and other keys were lost."""
    with dii_hpc.start_run("z") as run:
        run.log_metric("ok", 1.0, step=0)
        for key in ("zarr.json", "q/zarr.json"):
            with pytest.raises(BadInput, match="zarr.json"):
                run.log_metric(key, 1.0, step=0)
        run.log_metric("q/ok", 2.0, step=0)
    store = Store()
    assert store.run(run.id)["status"] == "FINISHED"
    assert store.metric_keys(run.id) == ["ok", "q/ok"]


def test_a_flush_that_fails_at_the_end_still_ends_the_run(store_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A store that refuses the points for longer than `finish` waits (keeping.STORE_WAIT_S)
    ends the run FAILED with the error (tests/tracking/test_keeping.py: a real full disk)."""
    from dii_hpc.errors import InfraError
    from dii_hpc.store import appender
    from dii_hpc.tracking import keeping

    run = dii_hpc.start_run("z", flush_interval=3600)
    run.log_metric("x", 1.0, step=0)

    def broken(path, data, **_):  # noqa: ANN001, ANN003, ANN202 - metric files only refused
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(appender, "write_bytes", broken)
    monkeypatch.setattr(keeping, "STORE_WAIT_S", 0.5)
    with pytest.raises(InfraError, match="No space left"):
        run.finish()
    rec = Store().run(run.id)
    assert rec["status"] == "FAILED" and "No space left" in rec["error"]


@pytest.mark.parametrize("attached", [False, True])
def test_a_heartbeat_never_reopens_a_run_that_status_ended(store_path: Path, attached: bool) -> None:
    """#14 item 4: `status` marked an orphaned run FAILED, then its writer's heartbeat made it
    RUNNING again.  The writer (owner, or a process attached to a launcher's run) keeps the
    ended status; a later point is still stored."""
    from dii_hpc.store import records
    from dii_hpc.tracking.run import Run

    store = Store()
    if attached:
        rid = store.create_run("hb", status="RUNNING")
        run = Run(store, records.read_record(store.run_dir(rid)), resumed=True, owns_status=False,
                  flush_interval=3600)
    else:
        run = dii_hpc.start_run("hb", flush_interval=3600)
    run.log_metric("x", 1.0, step=0)
    run.flush()
    store.update_run(run.id, status="FAILED", end_time=time.time(), error="writer gone")
    run.log_metric("x", 2.0, step=1)
    run.flush()
    run.flush(heartbeat=True)
    rec = store.run(run.id)
    assert rec["status"] == "FAILED" and rec["error"] == "writer gone"
    assert rec["metrics"]["x"]["count"] == 2
    run.finish("FINISHED")  # the writer ends: no open run left for the tests after this one
    assert store.metric_history(run.id, "x")["value"].tolist() == [1.0, 2.0]
