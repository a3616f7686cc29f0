"""A level-I suite on Slurm as a chain: shard array + dependent merge job, nothing waiting."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from dii_hpc.audit.job import AuditJob, of
from dii_hpc.audit.placement import chain as slurm_chain
from tests.audit.conftest import cli
from tests.conftest import run_cli


def _job(cfg: dict) -> AuditJob:
    return of({"seed": 0, **cfg}, "I", cfg["suite"], executor="slurm")


def test_task_count_covers_the_widest_task_and_the_config_task() -> None:
    assert slurm_chain.task_count(_job({"suite": "evasion", "attacks": ["fgsm", "pgd"]})) == 8
    assert slurm_chain.task_count(_job({"suite": "evasion"})) == 14  # 8 attacks + 6 curve eps
    assert slurm_chain.task_count(_job({"suite": "evasion", "task": "tabular_regression"})) == 8
    # tabular: + attribute inference; + LiRA and RMIA in case the model turns out to have fit
    assert slurm_chain.task_count(_job({"suite": "privacy"})) == 8
    assert slurm_chain.task_count(_job({"suite": "privacy", "sample_shards": 2})) == 9
    assert slurm_chain.task_count(_job({"suite": "poisoning"})) == 4  # 3 fractions + label flip


@pytest.mark.slurm
@pytest.mark.slow
def test_no_wait_queues_array_and_merge_then_returns(tmp_path: Path, store_path: Path,
                                                     demo_cache: Path) -> None:
    from dii_hpc.examples.tabular import breast_cancer_model

    breast_cancer_model()  # train once here, not in every array task
    cfg = tmp_path / "a.yaml"
    cfg.write_text("experiment: chain\nmodel: dii_hpc.examples.tabular:breast_cancer_model\n"
                   "data: dii_hpc.examples.tabular:breast_cancer_data\n"
                   "n_samples: 40\nattacks: [fgsm, pgd]\n")
    proc = run_cli("audit", "suite", "evasion", "--config", str(cfg), "--executor", "slurm",
                   "--no-wait", "--fail-under", "clean_accuracy=0.5")
    assert proc.returncode == 0, proc.stderr
    merge = proc.stdout.split("merge job ")[1].split()[0]
    dep = subprocess.run(["squeue", "-h", "-j", merge, "-o", "%E"], capture_output=True,
                         text=True).stdout.strip()
    assert dep.startswith("afterany:")  # held by Slurm, not by a waiting process
    from dii_hpc.store.store import Store

    def done() -> list[dict]:
        store = Store(store_path)
        if "chain" not in store.experiments():
            return []
        return [r for r in store.records("chain") if r["status"] == "FINISHED"]

    deadline = time.time() + 600
    while time.time() < deadline and not done():
        time.sleep(3)
    (run,) = done()
    local = tmp_path / "local.json"
    assert cli("audit", "suite", "evasion", "--config", str(cfg), "--json", str(local),
               "--no-store") == 0
    assert run["audit"]["metrics"] == json.loads(local.read_text())["metrics"]
