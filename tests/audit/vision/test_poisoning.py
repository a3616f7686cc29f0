"""Backdoor with retraining: the trigger works on the poisoned model, the model is restored."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dii_hpc.audit import engine
from dii_hpc.audit.job import for_stage

# The demo recipes (25 epochs) learn the generation and region-flip backdoors of 40 poisoned
from dii_hpc.audit.poisoning import vision as poisoning

# images only partly: over training seeds their ASR ranges 0.06-0.64 and 0.26-0.59, so
# another CPU's float rounding (another trajectory) decided whether the lift reached 0.2.
# Trained twice as long on a quarter of poisoned images, the lift is >= 0.67 for each kind
# over six training seeds (ASR >= 0.75, baseline <= 0.14): far from the 0.2 asked anywhere.
RECIPE = {"epochs": 50}
FRACTION = 0.25


@pytest.fixture(scope="module")
def trained(demo_cache: Any) -> dict[str, Any]:
    """The shapes models with the longer recipe (cached in the session's demo cache)."""
    from dii_hpc.examples import shapes

    return {"segmentation": shapes.shapes_segmenter(**RECIPE),
            "detection": shapes.shapes_detector(**RECIPE)}


@pytest.mark.slow
@pytest.mark.parametrize(("task", "kind", "target"), [
    ("segmentation", "region_flip", 1), ("detection", "disappearance", 1),
    ("detection", "generation", 3)])
def test_backdoor_succeeds_and_model_is_restored(task: str, kind: str, target: int,
                                                 trained: dict[str, Any]) -> None:
    from dii_hpc.examples import shapes

    model = trained[task]
    data = shapes.ShapesData(model.task.value, n_train=400, n_test=64)
    x_test = data.get_test_data()[0]
    before = model.predict(x_test[:4])
    record = poisoning.backdoor(model, data.get_train_data(), data.get_test_data(), FRACTION,
                                target, 0, kind)
    assert record["params"]["kind"] == kind
    m = record["metrics"]
    assert m["n_poisoned"] == 100 and m["fraction"] == FRACTION
    # the trigger does what the poisoned labels taught, far beyond its effect on a clean model
    assert m["attack_success_rate"] >= m["baseline_attack_success_rate"] + 0.2, m
    after = model.predict(x_test[:4])
    if task == "segmentation":
        np.testing.assert_array_equal(before, after)
    else:
        for a, b in zip(before, after, strict=True):
            np.testing.assert_array_equal(a["boxes"], b["boxes"])


def test_poisoning_suite_and_attack_through_the_engine(segmenter: Any) -> None:
    cfg = {"n_samples": 16, "data": {"factory": "dii_hpc.examples.shapes:segmentation_data",
                                     "params": {"n_train": 60, "n_test": 16}}}
    out = engine.compute(for_stage("configs/audit-segmentation.yaml", cfg, suite="poisoning"))
    assert out["threat"] == "poisoning" and out["suite"] == "poisoning" and out["grade"]
    assert out["metrics"]["n_poisoned"] == 6 and out["n_samples"] == 60
    two = engine.compute(for_stage("configs/audit-segmentation.yaml", cfg, attack="backdoor",
                                   params={"fraction": 0.2, "target": 3}))
    assert two["attack"] == "backdoor" and two["grade"] is None
    assert two["params"]["target"] == 3 and two["metrics"]["n_poisoned"] == 12


def test_poison_labels(segmenter: Any, seg_sample: Any, detector: Any,
                       det_sample: Any) -> None:
    x, masks = seg_sample
    xp, mp, idx = poisoning.poison(segmenter, x, masks, 0.25, 2, seed=0)
    assert len(idx) == 16 and (xp[idx] != x[idx]).any() and (xp[~np.isin(
        np.arange(64), idx)] == x[~np.isin(np.arange(64), idx)]).all()
    assert set(np.unique(mp[idx])) <= {0, 2} and (mp[idx] > 0).sum() == (masks[idx] > 0).sum()
    xd, td, idd = poisoning.poison(detector, *det_sample, 0.25, 1, seed=0)
    assert all(len(td[int(i)]["labels"]) == 0 for i in idd)
    from dii_hpc.errors import BadInput

    with pytest.raises(BadInput, match="target=0 must be an object class 1..3"):
        poisoning.backdoor(segmenter, (x, masks), (x, masks), 0.1, 0)
    with pytest.raises(BadInput, match="kind='generation' is not one of region_flip"):
        poisoning.backdoor(segmenter, (x, masks), (x, masks), 0.1, 1, kind="generation")
    xg, tg, idg = poisoning.poison(detector, *det_sample, 0.25, 3, seed=0, kind="generation")
    for i in idg:
        assert tg[int(i)]["labels"][-1] == 3
        assert len(tg[int(i)]["labels"]) == len(det_sample[1][int(i)]["labels"]) + 1
