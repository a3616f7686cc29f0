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
    from dii_hpc.audit.evasion import suite as evasion_suite
    from dii_hpc.audit.model.protocols import Task
    from dii_hpc.audit.privacy import suite as privacy_suite

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


def _both(cfg: Path, tmp_path: Path, *args: str) -> dict[str, dict]:
    """The same audit with --executor local, then slurm: both result JSONs."""
    out = {}
    for executor in ("local", "slurm"):
        path = tmp_path / f"{executor}.json"
        assert cli("audit", "suite", *args, "--config", str(cfg), "--executor", executor,
                   "--json", str(path), "--no-store") == 0
        out[executor] = json.loads(path.read_text())
    return out


def _same(out: dict[str, dict], *keys: str) -> None:
    for key in ("metrics", "curves", "grade", "sanity", *keys):
        assert out["slurm"][key] == out["local"][key], key
    strip = [{k: v for k, v in r.items() if k != "time_s"} for r in out["local"]["attacks"]]
    assert [{k: v for k, v in r.items() if k != "time_s"} for r in out["slurm"]["attacks"]] \
        == strip


POISON = ("model: dii_hpc.examples.tabular:breast_cancer_model\n"
          "data: dii_hpc.examples.tabular:breast_cancer_data\n")


@pytest.mark.slow
def test_poisoning_one_task_per_fraction_equals_local(tmp_path: Path, store_path: Path,
                                                      demo_cache: Path) -> None:
    """A task per poison fraction (the largest with both detectors) and the label flips."""
    from dii_hpc.audit.poisoning import suite as poisoning_suite
    from dii_hpc.examples.tabular import breast_cancer_model

    breast_cancer_model()
    cfg = tmp_path / "p.yaml"
    cfg.write_text(POISON)
    out = _both(cfg, tmp_path, "poisoning")
    assert out["slurm"]["slurm"]["array_tasks"] == len(poisoning_suite.SUITE_FRACTIONS) + 1
    assert sorted(t["shard"] for t in out["slurm"]["slurm"]["tasks"]) == \
        sorted([f"fraction-{f}" for f in poisoning_suite.SUITE_FRACTIONS] + ["label_flip"])
    _same(out, "summary")
    assert [r["name"] for r in out["slurm"]["attacks"]] == [
        "backdoor", "backdoor", "backdoor", "activation_defence", "spectral_signature",
        "label_flip"]


@pytest.mark.slow
def test_resubmission_runs_only_the_missing_shards(tmp_path: Path, store_path: Path,
                                                   demo_cache: Path) -> None:
    """Shards already in the job's checkpoint (an interrupted array) are not resubmitted;
    the merge uses them and gives the local numbers."""
    from dii_hpc.audit.core import checkpoint
    from dii_hpc.audit.job import for_stage
    from dii_hpc.audit.placement import slurm as slurm_suite
    from dii_hpc.examples.tabular import breast_cancer_model

    breast_cancer_model()
    cfg = tmp_path / "p.yaml"
    cfg.write_text(POISON)
    local = tmp_path / "local.json"
    assert cli("audit", "suite", "poisoning", "--config", str(cfg), "--json", str(local),
               "--no-store") == 0
    job = for_stage(str(cfg), suite="poisoning")
    for shard in ("fraction-0.01", "label_flip"):  # what a first array had finished
        slurm_suite.compute_shard(job, shard)
    assert checkpoint.for_job(job).done() == ["fraction-0.01", "label_flip"]
    path = tmp_path / "slurm.json"
    assert cli("audit", "suite", "poisoning", "--config", str(cfg), "--executor", "slurm",
               "--json", str(path), "--no-store") == 0
    out = {"local": json.loads(local.read_text()), "slurm": json.loads(path.read_text())}
    assert out["slurm"]["slurm"]["array_tasks"] == 2
    assert sorted(t["shard"] for t in out["slurm"]["slurm"]["tasks"]) == \
        ["fraction-0.05", "fraction-0.1"]
    _same(out, "summary")
    assert checkpoint.for_job(job).done() == []  # the merge removed the finished job's shards


@pytest.mark.slow
def test_autoattack_blocks_as_gpu_array_tasks_equal_one_process(tmp_path: Path,
                                                                store_path: Path,
                                                                digits: object) -> None:
    """--standard autoattack: a task per block of 250 samples, each given a GPU; the merge
    is the in-process standard result."""
    from dii_hpc.audit.evasion.autoattack import standard as autoattack

    cfg = tmp_path / "a.yaml"
    cfg.write_text("model: dii_hpc.examples.digits:digits_model\n"
                   "data: dii_hpc.examples.digits:digits_data\nn_samples: 260\n"
                   "resources: {gpus_per_task: 1}\n")
    out = _both(cfg, tmp_path, "evasion", "--standard", "autoattack", "--eps", "0.2")
    tasks = out["slurm"]["slurm"]["tasks"]
    assert out["slurm"]["slurm"]["array_tasks"] == 2 == len(range(0, 260, autoattack.BLOCK))
    assert sorted(t["shard"] for t in tasks) == ["autoattack-standard-0",
                                                 "autoattack-standard-250"]
    assert all(t["gpus"] not in (None, "") for t in tasks)  # Slurm's GRES, one GPU each
    _same(out, "standard", "summary")
    assert out["slurm"]["standard"]["comparable"]


@pytest.mark.slow
def test_engine_torch_shards_on_the_task_device_equal_in_process(tmp_path: Path,
                                                                 store_path: Path,
                                                                 digits: object) -> None:
    """--engine torch: torch shards run whole, each in a task with its GPU, on the device
    `distributed.device()` picks there; ART shards still split by samples."""
    import torch

    from dii_hpc.audit.evasion import suite as evasion_suite

    cfg = tmp_path / "a.yaml"
    cfg.write_text("model: dii_hpc.examples.digits:digits_model\n"
                   "data: dii_hpc.examples.digits:digits_data\nn_samples: 40\n"
                   "attacks: [fgsm, pgd, deepfool]\nsample_shards: 2\n"
                   "resources: {gpus_per_task: 1}\n")
    out = _both(cfg, tmp_path, "evasion", "--engine", "torch")
    tasks = {t["shard"]: t for t in out["slurm"]["slurm"]["tasks"]}
    assert sorted(tasks) == sorted(["attack-fgsm", "attack-pgd", "attack-deepfool@0of2",
                                    "attack-deepfool@1of2"]
                                   + [f"curve-{f}" for f in evasion_suite.CURVE_FRACTIONS])
    assert all(t["gpus"] not in (None, "") for t in tasks.values())
    gpu = "cuda:0" if torch.cuda.is_available() else "cpu"  # the emulated GPUs have no CUDA
    assert {t["device"] for k, t in tasks.items() if "deepfool" not in k} == {gpu}
    _same(out)
    assert {r["engine"] for r in out["slurm"]["attacks"]} == {"torch", "art"}
