"""Must-show: PGD at a documented eps halves mAP@0.5 and mIoU; dii-hpc equals ART direct.

The documented eps is the one in configs/audit-detection.yaml and
configs/audit-segmentation.yaml: Linf 0.15 (15% of the [0, 1] range), eps_step 0.0375,
10 steps, on 64 seeded test images.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dii_hpc.audit import engine
from dii_hpc.audit.config import load
from dii_hpc.audit.job import for_stage

PGD = {"eps": 0.15, "eps_step": 0.0375, "max_iter": 10}


@pytest.fixture(scope="module")
def level_two(detector: Any, segmenter: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for task in ("detection", "segmentation"):
        out[task] = engine.compute(for_stage(f"configs/audit-{task}.yaml", attack="pgd"))
    return out


def test_documented_eps_is_in_the_configs() -> None:
    for task in ("detection", "segmentation"):
        params = load(f"configs/audit-{task}.yaml").params
        assert params == PGD


def test_pgd_halves_detector_map50(level_two: dict[str, dict[str, Any]]) -> None:
    m = level_two["detection"]["metrics"]
    assert m["clean_map_50"] > 0.5, m
    assert m["adv_map_50"] <= 0.5 * m["clean_map_50"], m
    assert m["mean_perturbation_linf"] <= 0.15 + 1e-6


def test_pgd_halves_segmenter_miou(level_two: dict[str, dict[str, Any]]) -> None:
    m = level_two["segmentation"]["metrics"]
    assert m["clean_miou"] > 0.6, m
    assert m["adv_miou"] <= 0.5 * m["clean_miou"], m
    r = level_two["segmentation"]
    assert r["level"] == "II" and r["task"] == "image_segmentation" and r["threat"] == "evasion"
    assert len(r["attacks"][0]["metrics"]["per_class_iou_drop"]) == 4


def test_detection_equals_art_called_directly(detector: Any, det_sample: Any) -> None:
    """Same module, ART's ProjectedGradientDescentNumpy, same params and seed."""
    import torch
    from art.attacks.evasion import ProjectedGradientDescentNumpy

    from dii_hpc.audit.core import vision_metrics as metrics
    from dii_hpc.audit.evasion import vision as attacks
    from dii_hpc.audit.model.vision_estimators import detector_estimator

    x, t = det_sample[0][:32], det_sample[1][:32]
    record, x_adv = attacks.run_named(detector, x, t, "pgd", PGD, seed=3)

    np.random.seed(3)
    torch.manual_seed(3)
    est = detector_estimator(detector.module, input_shape=(1, 32, 32), nb_classes=4)
    direct = ProjectedGradientDescentNumpy(est, norm=np.inf, num_random_init=0, batch_size=32,
                                           verbose=False, **PGD).generate(x=x, y=t)
    np.testing.assert_array_equal(x_adv, direct)
    with torch.no_grad():
        preds = [{k: v.numpy() for k, v in d.items()}
                 for d in detector.module.eval()(torch.as_tensor(direct))]
    assert record["metrics"]["adv_map_50"] == metrics.detection_map(preds, t, 4)["map_50"]


def test_segmentation_equals_art_called_directly(segmenter: Any, seg_sample: Any) -> None:
    import torch
    from art.attacks.evasion import FastGradientMethod
    from sklearn.metrics import jaccard_score

    from dii_hpc.audit.evasion import vision as attacks
    from dii_hpc.audit.model.vision_estimators import segmentation_estimator

    x, masks = seg_sample[0][:32], seg_sample[1][:32]
    record, x_adv = attacks.run_named(segmenter, x, masks, "fgsm", {"eps": 0.1}, seed=1)
    est = segmentation_estimator(segmenter.module, input_shape=(1, 32, 32), nb_classes=4)
    direct = FastGradientMethod(est, eps=0.1, eps_step=0.1, batch_size=32).generate(x=x, y=masks)
    np.testing.assert_array_equal(x_adv, direct)
    with torch.no_grad():
        pred = segmenter.module(torch.as_tensor(direct)).argmax(1).numpy()
    present = np.union1d(np.unique(masks), np.unique(pred))
    ref = jaccard_score(masks.ravel(), pred.ravel(), labels=present, average="macro")
    assert abs(record["metrics"]["adv_miou"] - ref) < 1e-12


def test_patch_attacks_reproducible(detector: Any, segmenter: Any, det_sample: Any,
                                    seg_sample: Any) -> None:
    """Patches are seeded (DPatch draws its first patch in __init__), pasted only in 8x8."""
    from dii_hpc.audit.evasion import vision as attacks

    x, t = det_sample[0][:16], det_sample[1][:16]
    a = attacks.run_named(detector, x, t, "dpatch", {"max_iter": 3}, seed=0)[1]
    b = attacks.run_named(detector, x, t, "dpatch", {"max_iter": 3}, seed=0)[1]
    np.testing.assert_array_equal(a, b)
    assert ((a != x).reshape(16, -1).sum(1) <= 64).all()
    for name in ("robust_dpatch", "patch"):  # fixed place (RobustDPatch) / ours on a detector
        adv = attacks.run_named(detector, x, t, name, {"max_iter": 2}, seed=0)[1]
        assert ((adv != x).reshape(16, -1).sum(1) <= 64).all() and (adv != x).any()
    xs, ms = seg_sample[0][:16], seg_sample[1][:16]
    rec, adv = attacks.run_named(segmenter, xs, ms, "patch", {"max_iter": 10}, seed=0)
    assert ((adv != xs).reshape(16, -1).sum(1) <= 64).all()
    assert rec["metrics"]["adv_miou"] < rec["metrics"]["clean_miou"]


def test_targeted_attacks_report_success_rate(segmenter: Any, detector: Any,
                                              seg_sample: Any, det_sample: Any) -> None:
    from dii_hpc.audit.evasion import vision as attacks
    from dii_hpc.errors import BadInput

    xs, ms = seg_sample[0][:32], seg_sample[1][:32]
    rec, _ = attacks.run_named(segmenter, xs, ms, "pgd", {**PGD, "target": 2})
    m = rec["metrics"]
    assert rec["params"]["targeted"] is True and rec["params"]["target"] == 2
    assert m["attack_success_rate"] >= m["baseline_attack_success_rate"] + 0.5, m
    x, t = det_sample[0][:8], det_sample[1][:8]
    rec, _ = attacks.run_named(detector, x, t, "dpatch", {"target": 3, "max_iter": 2})
    assert 0 <= rec["metrics"]["attack_success_rate"] <= 1
    with pytest.raises(BadInput, match="targeted attacks on detectors: use dpatch"):
        attacks.run_named(detector, x, t, "pgd", {"target": 3})
    with pytest.raises(BadInput, match="target=0 must be an object class"):
        attacks.run_named(segmenter, xs, ms, "fgsm", {"target": 0})
