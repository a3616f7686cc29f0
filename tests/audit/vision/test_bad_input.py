"""Bad input -> BadInput with one line naming the split, sample and field (exit 2 in the CLI)."""

from __future__ import annotations

from typing import Any

import pytest

from dii_hpc.audit import engine
from dii_hpc.audit.job import of
from dii_hpc.errors import BadInput

F = "tests.audit.vision.factories"
DET = {"task": "object_detection", "model": "dii_hpc.examples.shapes:shapes_detector",
       "n_samples": 4, "seed": 0, "experiment": "x"}
SEG = {"task": "image_segmentation", "model": "dii_hpc.examples.shapes:shapes_segmenter",
       "n_samples": 4, "seed": 0, "experiment": "x"}


def _fails(cfg: dict[str, Any], pattern: str) -> str:
    with pytest.raises(BadInput, match=pattern) as err:
        engine.compute(of(cfg, "II", "fgsm"))
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 300
    return msg


@pytest.mark.parametrize(("cfg", "pattern"), [
    ({**DET, "data": f"{F}:boxes_outside"}, r"test data\[2\]: box .* outside the 32x32 image"),
    ({**DET, "data": f"{F}:label_too_big"}, r"test data\[0\]: label ids span \[7, 7\].*nb_classes=4"),
    ({**SEG, "data": f"{F}:masks_wrong_shape"}, r"masks have shape \(8, 16, 16\), expected \(8, 32, 32\)"),
    ({**SEG, "data": f"{F}:mask_label_too_big"}, r"test data masks: label ids span \[0, 9\]"),
    ({**DET, "model": f"{F}:tensor_detector", "data": f"{F}:small_detection_data"},
     r"torchvision's format"),
    ({**SEG, "data": "dii_hpc.examples.shapes:detection_data"}, r"masks have shape"),
    ({**DET, "model": "dii_hpc.examples.shapes:shapes_segmenter",
      "data": f"{F}:small_detection_data"}, r"config task 'object_detection' but model"),
], ids=["boxes-outside", "det-label", "mask-shape", "mask-label", "not-torchvision",
        "targets-for-masks", "task-mismatch"])
def test_bad_input_one_line(cfg: dict[str, Any], pattern: str, detector: Any,
                            segmenter: Any) -> None:
    _fails(cfg, pattern)


def test_detector_losses_not_a_dict(det_sample: Any) -> None:
    from dii_hpc.audit.model.vision_estimators import detector_estimator
    from tests.audit.vision.factories import tensor_detector

    est = detector_estimator(tensor_detector().module, input_shape=(1, 32, 32), nb_classes=4)
    with pytest.raises(BadInput, match="expected a dict of scalar loss tensors"):
        est.loss_gradient(det_sample[0][:2], det_sample[1][:2])


def test_attack_task_and_budget_checks(detector: Any, segmenter: Any, det_sample: Any) -> None:
    from dii_hpc.audit.evasion import vision as attacks

    with pytest.raises(BadInput, match="dpatch does not apply to image_segmentation"):
        attacks.attack_params("dpatch", segmenter, None)
    with pytest.raises(BadInput, match="num_random_init must be 0"):
        attacks.attack_params("pgd", detector, {"num_random_init": 1})
    with pytest.raises(BadInput, match=r"eps=2 is outside \(0, 1\]"):
        attacks.attack_params("pgd", detector, {"eps": 2})
    shared = attacks.attack_params("dpatch", detector, {"eps": 0.15, "max_iter": 3})
    assert "eps" not in shared and shared["max_iter"] == 3  # a patch's budget is its size
    with pytest.raises(BadInput, match="attack cw does not apply to object_detection; use one of "
                                       "fgsm, pgd, dpatch, robust_dpatch, patch"):
        attacks.attack_params("cw", detector, None)
    with pytest.raises(BadInput, match="suite 'privacy' is not available"):
        engine.compute(of({**DET, "data": f"{F}:small_detection_data"}, "I", "privacy"))
