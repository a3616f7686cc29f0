"""Level I and III through the vision engine, stored as an audit run like the other tasks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dii_hpc.audit import engine
from dii_hpc.audit.core import results
from dii_hpc.audit.job import for_stage, from_config


@pytest.mark.parametrize("task", ["detection", "segmentation"])
def test_suite_graded_stored_with_examples(task: str, tmp_path: Path, store_path: Path,
                                           detector: Any, segmenter: Any) -> None:
    job = for_stage(f"configs/audit-{task}.yaml", {"n_samples": 16}, suite="evasion")
    out = engine.compute(job, examples_dir=str(tmp_path))
    k = "map_50" if task == "detection" else "miou"
    m = out["metrics"]
    assert out["level"] == "I" and out["suite"] == "evasion" and out["grade"] in "ABCDE"
    assert [r["name"] for r in out["attacks"]][:2] == ["fgsm", "pgd"]
    assert m[f"adv_{k}"] == min(r["metrics"][f"adv_{k}"] for r in out["attacks"])
    assert m[f"adv_{k}"] < m[f"clean_{k}"]
    curve = [p[f"adv_{k}"] for p in out["curves"]["robustness"]]
    assert curve[-1] < curve[0]
    assert {f["flag"] for f in out["sanity"]} == {"zero_gradients", "clean_metric_too_low",
                                                  "non_monotone_curve"}
    assert len(out["examples"]) == 4 and all((tmp_path / n).is_file() for n in out["examples"])

    run_id = results.persist(out, examples_dir=str(tmp_path))
    import dii_hpc

    store = dii_hpc.Store(store_path)
    record = store.run(run_id)
    assert record["kind"] == "audit" and record["audit"]["grade"] == out["grade"]
    assert record["audit"]["task"] == ("object_detection" if task == "detection"
                                       else "image_segmentation")
    assert set(out["examples"]) <= set(store.artifacts(run_id))
    assert record["metrics"][f"clean_{k}"]["last"] == pytest.approx(m[f"clean_{k}"])
    json.dumps(results.clean_json(out), allow_nan=False)


def test_level_three_any_art_class(segmenter: Any) -> None:
    job = from_config("configs/audit-segmentation.yaml", {"n_samples": 8}, level="III",
                      name="art.attacks.evasion.BasicIterativeMethod",
                      params={"eps": 0.1, "eps_step": 0.02, "max_iter": 3})
    out = engine.compute(job)
    assert out["attack"] == "art.attacks.evasion.BasicIterativeMethod" and out["grade"] is None
    assert out["metrics"]["adv_miou"] < out["metrics"]["clean_miou"]
    assert out["manifest"]["weights_sha256"] and out["manifest"]["seed"] == 0
