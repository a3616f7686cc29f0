"""sacct --parsable2 parsing: states, array ids, requeues, units, TRES (real captured output)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.slurm import timespec
from dii_hpc.slurm.sacct import (
    expand_pending_array,
    normalise_state,
    parse_mem_mb,
    parse_sacct,
    parse_tres,
    sacct_command,
)

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(
    ("raw", "status"),
    [("CANCELLED by 0", "CANCELLED"), ("COMPLETED", "FINISHED"), ("OUT_OF_ME+", "OUT_OF_MEMORY"),
     ("OUT_OF_MEMORY", "OUT_OF_MEMORY"), ("TIMEOUT", "TIMEOUT"), ("NODE_FAIL", "NODE_FAIL"),
     ("REQUEUED", "PENDING"), ("PREEMPTED", "PREEMPTED"), ("BOOT_FAIL", "NODE_FAIL"),
     ("RUNNING", "RUNNING"), ("", "UNKNOWN")],
)
def test_state_normalisation(raw: str, status: str) -> None:
    assert normalise_state(raw) == status


def test_units_and_durations() -> None:
    assert parse_mem_mb("1024K") == 1.0
    assert parse_mem_mb("1.5G") == 1536.0
    assert parse_mem_mb("512M") == 512.0
    assert parse_mem_mb("") is None
    assert timespec.parse_or_none("1-02:03:04") == 93784
    assert timespec.parse_or_none("00:00.182") == pytest.approx(0.182)
    assert timespec.parse_or_none("UNLIMITED") is None
    assert parse_tres("billing=1,cpu=2,gres/gpu=2,gres/gpu:a100=2,mem=4G,node=1") == {
        "billing": 1, "cpu": 2, "gpu": 2, "mem_mb": 4096, "node": 1}


def test_pending_array_expansion() -> None:
    assert expand_pending_array("3_[2-3%2]") == ["3_2", "3_3"]
    assert expand_pending_array("7_[0,4-5]") == ["7_0", "7_4", "7_5"]
    assert expand_pending_array("12") == ["12"]


def test_running_array_with_pending_tail() -> None:
    jobs = parse_sacct((GOLDEN / "sacct_array_running.txt").read_text())
    assert sorted(jobs) == ["3_0", "3_1", "3_2", "3_3", "4"]
    assert jobs["3_0"]["state"] == "RUNNING" and jobs["3_0"]["array_task_id"] == 0
    assert jobs["3_2"]["state"] == "PENDING"
    assert jobs["4"]["state"] == "CANCELLED" and jobs["4"]["slurm_state"] == "CANCELLED by 0"
    assert jobs["4"]["node_list"] == ""


def test_finished_array_joins_step_maxrss() -> None:
    jobs = parse_sacct((GOLDEN / "sacct_array_done.txt").read_text())
    rec = jobs["3_2"]
    assert rec["state"] == "FINISHED" and rec["exit_code"] == 0
    assert rec["max_rss_mb"] == pytest.approx(63784 / 1024, abs=1e-3)
    assert rec["raw_job_id"] == "7" and rec["array_job_id"] == "3"
    assert rec["queue_wait_s"] == 6.0 and rec["elapsed_s"] == 7.0
    assert rec["alloc_tres"]["cpu"] == 1 and rec["time_limit_s"] == 60.0


def test_requeued_duplicates_are_counted() -> None:
    header = "JobID|State|ExitCode\n"
    text = header + "9|REQUEUED|0:15\n9.batch|CANCELLED|0:15\n9|REQUEUED|0:15\n9|COMPLETED|0:0\n"
    jobs = parse_sacct(text)
    assert jobs["9"]["requeue_count"] == 2 and jobs["9"]["state"] == "FINISHED"


def test_command_is_one_batched_call() -> None:
    cmd = sacct_command(["5", "3", "5"])
    assert cmd[0] == "sacct" and cmd[-1] == "3,5" and "--parsable2" in cmd


def test_pending_array_line_never_overrides_started_tasks() -> None:
    # sacct -D keeps the array's original pending line listed after tasks that already ran.
    text = ("JobID|State|ExitCode\n167_0|COMPLETED|0:0\n167_1|RUNNING|0:0\n"
            "167_[0-9]|PENDING|0:0\n167_[2-9]|PENDING|0:0\n167_2|RUNNING|0:0\n")
    jobs = parse_sacct(text)
    assert jobs["167_0"]["state"] == "FINISHED" and jobs["167_0"]["requeue_count"] == 0
    assert jobs["167_1"]["state"] == "RUNNING"
    assert jobs["167_2"]["state"] == "RUNNING" and jobs["167_2"]["requeue_count"] == 0
    assert jobs["167_9"]["state"] == "PENDING"
