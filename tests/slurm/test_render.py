"""sbatch template rendering is pure and matches the golden files byte for byte."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dii_hpc.errors import BadInput
from dii_hpc.slurm.render import array_context, render
from tests.conftest import GOLDEN_UPDATE, check_golden

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(autouse=True)
def _default_preempt_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The golden files hold submitit's default warning signal, USR2."""
    monkeypatch.delenv("SUBMITIT_PREEMPT_SIGNAL", raising=False)
    monkeypatch.delitem(sys.modules, "submitit.core.job_environment", raising=False)


def _check(name: str, text: str) -> None:
    check_golden(GOLDEN / name, text)


def test_ci_refuses_to_regenerate_golden_files(monkeypatch: pytest.MonkeyPatch) -> None:
    golden = GOLDEN / "run.sbatch"
    before = golden.read_bytes()
    monkeypatch.setenv(GOLDEN_UPDATE, "1")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="refused when CI=true"):
        check_golden(golden, "whatever the code prints now\n")
    assert golden.read_bytes() == before


def test_array_template() -> None:
    ctx = array_context(
        experiment="digits-cnn", n_tasks=8, plan_file="/store/jobs/abc/plan.json",
        store="/store", log_dir="/store/jobs/abc/logs", python="/opt/venv/bin/python",
        resources={"partition": "debug", "time": "00:30:00", "cpus_per_task": 2, "mem": "2G",
                   "gpus": 1, "array_parallelism": 4, "extra": {"constraint": "a100"}},
        setup=["module load cuda", "source ~/venv/bin/activate"],
    )
    _check("array.sbatch", render("array.sbatch.j2", **ctx))


def test_array_template_minimal() -> None:
    ctx = array_context(
        experiment="x", n_tasks=3, plan_file="/s/p.json", store="/s", log_dir="/s/logs",
        python="python3", resources={}, first=1000,
    )
    text = render("array.sbatch.j2", **ctx)
    assert "--array=1000-1002%3" in text and "--partition" not in text and "--gpus" not in text
    _check("array_minimal.sbatch", text)


def test_run_template() -> None:
    text = render("run.sbatch.j2", job_name="dii-run", partition=None, time="00:05:00",
                  cpus_per_task=1, mem=None, gpus=0, log_dir="/s/runs/r/logs", setup=[],
                  store="/s", run_id="01ABC", command=["python", "train.py", "--lr", "0.1 x"])
    _check("run.sbatch", text)


def test_missing_value_names_it() -> None:
    with pytest.raises(BadInput, match="run_id"):
        render("run.sbatch.j2", job_name="j", partition=None, time="1", cpus_per_task=1,
               mem=None, gpus=0, log_dir="/l", setup=[], store="/s", command=["x"])
