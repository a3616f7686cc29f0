"""Issue 26 item 5: `pipeline cancel` ends a running stage CANCELLED, not FAILED, whatever its
job does when the signal ends its command; and the stages after it are CANCELLED too."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dii_hpc.records import pipeline as records
from tests.conftest import DII, run_cli, until

REPO = Path(__file__).resolve().parents[2]
WHY = "cancelled by `dii-hpc pipeline cancel`"


def _pipeline(tmp_path: Path, wait_for: Path) -> Path:
    """A command stage that runs until ``wait_for`` appears, then fails; one stage after it."""
    body = (f"import os, sys, time\nwhile not os.path.exists({str(wait_for)!r}):\n"
            "    time.sleep(0.1)\nsys.exit(5)\n")
    (tmp_path / "slow.py").write_text(body)
    path = tmp_path / "p.yaml"
    path.write_text(json.dumps({"pipeline": "cancelme", "resources": {"time": "00:05:00"},
                                "stages": {
        "slow": {"command": f"python {tmp_path / 'slow.py'}"},
        "after": {"command": "true", "needs": ["slow"]}}}))
    return path


def _stage(store_path: Path, pid: str, name: str) -> dict:
    return records.read_stage(store_path, pid, name).model_dump()


def test_a_stage_whose_job_fails_after_the_cancel_is_cancelled(tmp_path: Path,
                                                               store_path: Path) -> None:
    """Local executor: the cancel is noted while the stage runs; its command then fails (as
    a signalled one would): the stage is CANCELLED, the stage after it never runs."""
    release = tmp_path / "release"
    proc = subprocess.Popen([DII, "pipeline", "submit", str(_pipeline(tmp_path, release)),
                             "--executor", "local"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ)
    try:
        pid = until("the pipeline record", lambda: records.ids(store_path))[0]
        until("slow RUNNING", lambda: _stage(store_path, pid, "slow")["state"] == "RUNNING")
        cancel = run_cli("pipeline", "cancel", pid)
        assert cancel.returncode == 0 and "cancelled 2 stage(s): slow, after" in cancel.stdout
        release.write_text("")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    for name in ("slow", "after"):
        rec = _stage(store_path, pid, name)
        assert (rec["state"], rec["error"]) == ("CANCELLED", WHY), (name, rec, out, err)
    view = json.loads(run_cli("pipeline", "status", pid, "--format", "json").stdout)
    assert view["state"] == "CANCELLED"


@pytest.mark.slurm
@pytest.mark.slow
def test_pipeline_cancel_of_a_running_slurm_stage_is_cancelled(tmp_path: Path,
                                                               store_path: Path) -> None:
    """On Slurm: scancel's SIGTERM ends the stage's command (exit -15), which its job used to
    record as FAILED."""
    path = _pipeline(tmp_path, tmp_path / "never")
    proc = run_cli("pipeline", "submit", str(path), "--executor", "slurm", cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pid = proc.stdout.strip().splitlines()[-1]
    jobs = _stage(store_path, pid, "slow")["jobs"] + _stage(store_path, pid, "after")["jobs"]
    until("slow RUNNING", lambda: _stage(store_path, pid, "slow")["state"] == "RUNNING", 300)
    cancel = run_cli("pipeline", "cancel", pid)
    assert cancel.returncode == 0 and "cancelled 2 stage(s): slow, after" in cancel.stdout

    def gone() -> bool:
        out = subprocess.run(["squeue", "-h", "-j", ",".join(jobs), "-o", "%i"],
                             capture_output=True, text=True, check=False).stdout
        return not out.strip()

    until("the stage jobs to leave the queue", gone)
    for name in ("slow", "after"):
        rec = _stage(store_path, pid, name)
        assert (rec["state"], rec["error"]) == ("CANCELLED", WHY), (name, rec)
    view = json.loads(run_cli("pipeline", "status", pid, "--format", "json").stdout)
    assert view["state"] == "CANCELLED"
    assert {s["state"] for s in view["stages"].values()} == {"CANCELLED"}
