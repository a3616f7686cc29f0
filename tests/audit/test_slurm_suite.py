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


@pytest.mark.slow
@pytest.mark.parametrize("suite,n", [("evasion", 150), ("privacy", 80)])
def test_two_sample_shards_per_attack_equal_one_process(suite: str, n: int, tmp_path: Path,
                                                        store_path: Path, digits: object) -> None:
    """`sample_shards: 2`: every attack's blocks split over two array tasks (the label-only
    attack's HopSkipJump too) and merged give exactly the single-process numbers."""
    from dii_hpc.audit import evasion_suite, privacy_suite
    from dii_hpc.audit.protocols import Task

    cfg = tmp_path / "a.yaml"
    cfg.write_text("model: dii_hpc.examples.digits:digits_model\n"
                   f"data: dii_hpc.examples.digits:digits_data\nn_samples: {n}\n"
                   "sample_shards: 2\nparams: {n_reference: 4}\n")
    out = {}
    for executor in ("local", "slurm"):
        path = tmp_path / f"{executor}.json"
        assert cli("audit", "suite", suite, "--config", str(cfg), "--executor", executor,
                   "--json", str(path), "--no-store") == 0
        out[executor] = json.loads(path.read_text())
    mod = evasion_suite if suite == "evasion" else privacy_suite
    extra = {"retrainable": True} if suite == "privacy" else {}
    shards = mod.shard_keys(Task.IMAGE_CLASSIFICATION, **extra)
    split = sum(2 if mod.blocked(k) else 1 for k in shards)
    assert out["slurm"]["slurm"]["array_tasks"] == split > len(shards)
    for key in ("metrics", "curves", "grade"):
        assert out["slurm"][key] == out["local"][key]
    strip = [{k: v for k, v in r.items() if k != "time_s"} for r in out["local"]["attacks"]]
    assert [{k: v for k, v in r.items() if k != "time_s"} for r in out["slurm"]["attacks"]] \
        == strip
