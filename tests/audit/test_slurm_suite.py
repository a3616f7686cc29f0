"""`--executor slurm`: the evasion suite as a job array + merge equals the local suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.audit.conftest import cli

pytestmark = pytest.mark.slurm  # skipped without a cluster: tests/conftest.py


@pytest.mark.slow
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
