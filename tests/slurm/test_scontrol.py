"""scontrol/squeue parsing: MaxArraySize, accounting flag, fallback job records."""

from __future__ import annotations

from pathlib import Path

from dii_hpc.slurm.scontrol import (
    accounting_enabled,
    max_array_size,
    parse_config,
    parse_show_job,
    parse_squeue,
)

GOLDEN = Path(__file__).parent / "golden"


def test_show_config() -> None:
    cfg = parse_config((GOLDEN / "scontrol_show_config.txt").read_text())
    assert max_array_size(cfg) == 1001
    assert accounting_enabled(cfg)
    assert "Configuration" not in " ".join(cfg)
    assert max_array_size({}) == 1001
    assert not accounting_enabled({"AccountingStorageType": "accounting_storage/none"})


def test_show_job_lines() -> None:
    text = (
        "JobId=5 ArrayJobId=3 ArrayTaskId=0 JobName=wrap JobState=RUNNING Reason=None "
        "Restarts=1 ExitCode=0:0 RunTime=00:00:03 TimeLimit=00:01:00 NodeList=vm Partition=debug\n"
        "JobId=3 ArrayJobId=3 ArrayTaskId=2-3%2 JobState=PENDING Reason=JobArrayTaskLimit "
        "NodeList=(null)\n"
        "JobId=4 JobName=wrap JobState=CANCELLED Reason=None ExitCode=0:15\n"
    )
    jobs = parse_show_job(text)
    assert jobs["3_0"]["state"] == "RUNNING" and jobs["3_0"]["requeue_count"] == 1
    assert jobs["3_2"]["state"] == "PENDING" and jobs["3_3"]["node_list"] == ""
    assert jobs["4"]["signal"] == 15


def test_squeue() -> None:
    jobs = parse_squeue("3_[2-3%2]|PENDING|JobArrayTaskLimit||debug\n3_0|RUNNING|None|vm|debug\n")
    assert set(jobs) == {"3_0", "3_2", "3_3"}
    assert jobs["3_2"]["reason"] == "JobArrayTaskLimit"
