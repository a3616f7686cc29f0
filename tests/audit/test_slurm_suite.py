"""`--executor slurm`: the evasion suite as a job array + merge equals the local suite."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.audit.conftest import cli


def _slurm_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = [pytest.mark.slurm,
              pytest.mark.skipif(not _slurm_up(), reason="needs the Slurm cluster")]


def test_slurm_array_suite_equals_local(tmp_path: Path, store_path: Path,
                                        demo_cache: Path) -> None:
    from dii_hpc.examples.tabular import breast_cancer_model

    breast_cancer_model()  # train once here, not in every array task
    cfg = tmp_path / "a.yaml"
    cfg.write_text("model: dii_hpc.examples.tabular:breast_cancer_model\n"
                   "data: dii_hpc.examples.tabular:breast_cancer_data\n"
                   "n_samples: 40\nattacks: [fgsm, pgd]\n")
    out = {}
    for executor in ("local", "slurm"):
        path = tmp_path / f"{executor}.json"
        assert cli("audit", "suite", "evasion", "--config", str(cfg), "--executor", executor,
                   "--json", str(path), "--no-store") == 0
        out[executor] = json.loads(path.read_text())
    assert out["slurm"]["slurm"]["array_tasks"] == 8  # 2 attacks + 6 curve points
    assert out["slurm"]["metrics"] == out["local"]["metrics"]
    assert out["slurm"]["curves"] == out["local"]["curves"]
