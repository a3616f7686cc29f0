"""A store that refuses writes for a while loses no point (#26 item 8), on a real full disk.

Each test puts its store on a tmpfs of a few MiB mounted for it (needs root; skipped
otherwise), fills it with a ballast file until writes fail with ENOSPC, and deletes the
ballast to give the space back: the kernel's own "No space left on device", not a mock.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import dii_hpc
from dii_hpc.errors import InfraError
from dii_hpc.store.store import Store
from tests.conftest import DII


class SmallDisk:
    """A tmpfs of ``size`` bytes at ``path``: `fill` it (leaving ``spare`` pages), `free` it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.page = os.sysconf("SC_PAGE_SIZE")

    def fill(self, name: str = "ballast", spare: int = 0) -> None:
        """Write ``name`` until the disk is full; then ``spare`` pages are given back."""
        keep = self.path / ".spare"
        keep.write_bytes(b"\1" * (spare * self.page))
        fd = os.open(self.path / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            while True:
                os.write(fd, b"\0" * self.page)
        except OSError as err:
            assert err.errno == 28, err  # ENOSPC
        finally:
            os.close(fd)
        keep.unlink()

    def free(self, name: str = "ballast") -> None:
        (self.path / name).unlink()


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    got = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if got.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {got.stderr.strip()}")
    try:
        yield SmallDisk(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _wait_for(check, timeout: float, what: str):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while not (got := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)
    return got


def _steps(store: Store, run_id: str, key: str) -> list[int]:
    return store.metric_array(run_id, key)[:, 0].astype(int).tolist()


@pytest.mark.parametrize("flushes", ["explicit", "background"])
def test_points_logged_while_the_disk_is_full_are_stored_once_space_returns(
        small_disk: SmallDisk, capfd: pytest.CaptureFixture[str], flushes: str) -> None:
    """The issue's case: the store full from step 500 to 1500; every point in between was
    lost and nothing said until the run ended (FAILED).  Now: one warning at the first
    refused write, every point stored once when space returns, the run FINISHED."""
    root = small_disk.path / "store"
    background = flushes == "background"
    run = dii_hpc.start_run("full", store=root, flush_interval=0.05 if background else 3600,
                            flush_points=50 if background else 10**6)
    store = Store(root)
    for s in range(500):
        run.log_metrics({"x": float(s), "auto": -float(s)}, step=s if s % 2 else None)
    run.flush()
    small_disk.fill()
    for s in range(500, 1500):
        run.log_metrics({"x": float(s), "auto": -float(s)}, step=s if s % 2 else None)
        if not background and s % 100 == 0:
            run.flush()  # refused: kept
    run.log_params({"while_full": 1})  # run.json refused too: kept in memory
    _wait_for(lambda: "the store refused a write" in (seen := capfd.readouterr().err) and seen,
              30, "the warning of a refused flush")
    assert _steps(store, run.id, "x") == list(range(500))  # nothing more reached the disk
    small_disk.free()
    for s in range(1500, 2000):
        run.log_metrics({"x": float(s), "auto": -float(s)}, step=s if s % 2 else None)
    run.finish()
    rec = store.run(run.id)
    assert rec["status"] == "FINISHED" and rec["error"] is None and rec["params"]["while_full"] == 1
    for key, sign in (("x", 1.0), ("auto", -1.0)):
        rows = store.metric_array(run.id, key)
        assert rows[:, 0].astype(int).tolist() == list(range(2000)), key  # each step once
        np.testing.assert_array_equal(rows[:, 1], sign * np.arange(2000.0))
        assert rec["metrics"][key]["count"] == 2000
    assert "the store refused a write" not in capfd.readouterr().err  # said once only


def test_a_flush_the_disk_fills_half_way_stores_each_key_once(small_disk: SmallDisk) -> None:
    """The disk fills during one flush of 30 new keys: the chunks fit, only some zarr.json do.
    The keys published stay as they are; the others are written once space returns."""
    root = small_disk.path / "store"
    run = dii_hpc.start_run("half", store=root, flush_interval=3600)
    run.log_metric("first", 1.0)
    run.flush()
    small_disk.fill(spare=45)  # 30 chunk files, then 15 of the 30 zarr.json
    keys = [f"k{k:02d}" for k in range(30)]
    for key in keys:
        for s in range(10):
            run.log_metric(key, float(s), step=s)
    run.flush()
    store = Store(root)
    published = [k for k in store.metric_keys(run.id) if k in keys]
    assert 0 < len(published) < len(keys), published  # the disk filled half-way
    small_disk.free()
    run.log_metric(keys[0], 10.0, step=10)
    run.finish()
    assert store.run(run.id)["status"] == "FINISHED"
    for key in keys:
        assert _steps(store, run.id, key) == list(range(11 if key == keys[0] else 10)), key


def test_points_beyond_the_cap_are_refused_in_one_clear_line(
        small_disk: SmallDisk, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a refusing store leaves in memory is bounded: past the buffer cap `log_metric`
    raises InfraError naming the store and why; every point kept before it is stored later."""
    from dii_hpc.tracking import run as run_module

    monkeypatch.setattr(run_module, "BUFFER_CAP_BYTES", 2000 * run_module._RECORD.size)
    root = small_disk.path / "store"
    run = dii_hpc.start_run("cap", store=root, flush_interval=3600, flush_points=100)
    run.log_metric("x", 0.0, step=0)
    run.flush()
    small_disk.fill()
    deadline = time.monotonic() + 60  # the flush thread notices the cap within its poll
    with pytest.raises(InfraError) as err:
        for s in itertools.count(1):
            run.log_metric("x", float(s), step=s)
            if s % 1000 == 0 and time.monotonic() > deadline:
                pytest.fail("no InfraError past the cap")
    refused = s
    assert refused >= 2000, refused  # the cap: 2000 points
    text = str(err.value)
    assert "\n" not in text and str(root) in text and "No space left on device" in text
    assert "waiting in memory passed their 55 KiB limit" in text
    small_disk.free()
    run.log_metric("x", float(refused), step=refused)  # accepted again
    run.finish()
    assert _steps(Store(root), run.id, "x") == list(range(refused + 1))


CHILD = """
import os, sys, time
import dii_hpc
from dii_hpc.tracking.fluent import active_run

mnt, sync = sys.argv[1], sys.argv[2]

def fill(name):
    fd = os.open(os.path.join(mnt, name), os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\\0" * 4096)
    except OSError:
        os.close(fd)

for s in range(500):
    dii_hpc.log_metric("x", float(s), step=s)
active_run().flush()
fill("ballast")
for s in range(500, 1500):
    dii_hpc.log_metric("x", float(s), step=s)
active_run().flush()  # refused: kept
open(os.path.join(sync, "full"), "w").close()
while not os.path.exists(os.path.join(sync, "go")):  # the test frees the disk
    time.sleep(0.05)
for s in range(1500, 2000):
    dii_hpc.log_metric("x", float(s), step=s)
active_run().flush()
fill("ballast2")  # full again when the command ends: the launcher's end state waits
"""


def test_dii_hpc_run_writes_every_point_and_its_end_once_space_allows(small_disk: SmallDisk,
                                                                      tmp_path: Path) -> None:
    """Under `dii-hpc run` the same case gave exit 3, threading's raw "Exception ignored"
    traceback, and a run left RUNNING.  Now: one line on stderr, the end state written once
    space allows, every point stored, exit 0."""
    script, sync = tmp_path / "child.py", tmp_path / "sync"
    script.write_text(textwrap.dedent(CHILD))
    sync.mkdir()
    root = small_disk.path / "store"
    proc = subprocess.Popen([DII, "run", "--executor", "local", "--sys-metrics-s", "0", "-e", "cmd",
                             "--", sys.executable, str(script), str(small_disk.path), str(sync)],
                            env={**os.environ, "DII_HPC_STORE": str(root)}, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: (sync / "full").exists() or proc.poll() is not None, 120, "the child")
        small_disk.free()
        (sync / "go").touch()
        line = proc.stderr.readline()  # the launcher's first line: its end state is refused
        assert "the store refused a write" in line and "No space left on device" in line, line
        small_disk.free("ballast2")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, line + err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    store = Store(root)
    (rec,) = store.records("cmd")
    assert rec["status"] == "FINISHED", rec
    assert _steps(store, rec["run_id"], "x") == list(range(2000))
