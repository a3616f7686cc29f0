"""The certification suite as array tasks: 1, 4 and 16 tasks (samples x noise batches) give
the per-sample results of one process; a merge after a partial array computes only the
missing shards; on the test bed's Slurm the array equals the local run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.audit.certification.conftest import config
from tests.audit.conftest import cli

PARAMS = {"n": 1500, "n0": 50, "alpha": 0.001, "sigma": 0.25, "batch": 400}
SAMPLES = 20


def _job(weights: Path, sample_shards: int, noise_shards: int) -> Any:
    from dii_hpc.audit.job import of

    return of(config(weights, n_samples=SAMPLES, sample_shards=sample_shards,
                     attacks=["smoothing"], params={**PARAMS, "noise_shards": noise_shards}),
              "I", "certification")


def _array(job: Any, keys: list[str]) -> None:
    """What the array's tasks do, one after another here: `placement.slurm.compute_shard`."""
    from dii_hpc.audit.placement import slurm

    for key in keys:
        assert not slurm.compute_shard(job, key).get("skipped")


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    return {"samples": result["samples"], "metrics": result["metrics"],
            "grade": result["grade"], "curves": result["curves"]}


@pytest.mark.slow
def test_one_four_and_sixteen_array_tasks_give_the_same_samples(noisy_digits: Path,
                                                                store_path: Path) -> None:
    from dii_hpc.audit import engine
    from dii_hpc.audit.placement import slurm

    out, tasks = {}, {}
    for sample_shards, noise_shards in ((1, 1), (4, 1), (8, 2)):
        job = _job(noisy_digits, sample_shards, noise_shards)
        keys = slurm.plan(job)
        tasks[sample_shards * noise_shards] = len(keys)
        half = len(keys) // 2
        _array(job, keys[:half] if len(keys) > 1 else keys)  # a partial array: the merge
        result = engine.compute(job)  # computes the rest (resume)
        assert result["resumed_shards"] == (half if len(keys) > 1 else 1)
        out[len(keys)] = result
    assert tasks == {1: 1, 4: 4, 16: 16}
    one = _comparable(out[1])
    assert len(one["samples"]["radius"]) == SAMPLES
    assert 0 < one["metrics"]["certified_accuracy@0.25"] <= one["metrics"]["certified_accuracy@0"]
    for n in (4, 16):
        assert _comparable(out[n]) == one, n
    assert out[16]["params"]["noise_shards"] == 2


@pytest.mark.slow
@pytest.mark.slurm
def test_slurm_array_equals_one_process(noisy_digits: Path, store_path: Path,
                                        tmp_path: Path) -> None:
    """2 sample parts x 2 noise parts as 4 array tasks on the test bed, each with the GPU
    the config's `resources:` asks for (on its device there), merged: the local numbers."""
    import torch

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(config(noisy_digits, n_samples=SAMPLES, sample_shards=2,
                                         attacks=["smoothing"],
                                         params={**PARAMS, "noise_shards": 2},
                                         resources={"gpus_per_task": 1})))
    out = {}
    for executor in ("local", "slurm"):
        path = tmp_path / f"{executor}.json"
        assert cli("audit", "suite", "certification", "--config", str(cfg), "--executor",
                   executor, "--json", str(path), "--no-store") == 0
        out[executor] = json.loads(path.read_text())
    tasks = out["slurm"]["slurm"]["tasks"]
    assert sorted(t["shard"] for t in tasks) == [f"smoothing-s{i}of2-n{j}of2"
                                                 for i in range(2) for j in range(2)]
    assert all(t["gpus"] not in (None, "") for t in tasks)  # Slurm's GRES, one GPU each
    gpu = "cuda:0" if torch.cuda.is_available() else "cpu"  # the emulated GPUs have no CUDA
    assert {t["device"] for t in tasks} == {gpu}
    assert _comparable(out["slurm"]) == _comparable(out["local"])
