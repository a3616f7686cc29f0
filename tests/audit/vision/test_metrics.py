"""Metrics: pycocotools mAP and confusion-matrix IoU on cases with known answers."""

from __future__ import annotations

import math

import numpy as np

from dii_hpc.audit.core import vision_metrics as metrics

TARGETS = [{"boxes": np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32),
            "labels": np.array([1, 2])},
           {"boxes": np.array([[5, 5, 15, 15]], np.float32), "labels": np.array([1])}]


def _preds(shift: float) -> list[dict[str, np.ndarray]]:
    return [{"boxes": t["boxes"] + shift, "labels": t["labels"],
             "scores": np.ones(len(t["labels"]), np.float32)} for t in TARGETS]


def test_map_perfect_shifted_and_empty() -> None:
    assert metrics.detection_map(_preds(0.0), TARGETS, 3) == {"map_50": 1.0, "map": 1.0}
    # shifted by 1 px: IoU 81/119 = 0.68 (a hit at 0.5, a miss from 0.7 on); by 2: 64/136
    one = metrics.detection_map(_preds(1.0), TARGETS, 3)
    assert one["map_50"] == 1.0 and 0.0 < one["map"] < 1.0
    assert metrics.detection_map(_preds(2.0), TARGETS, 3)["map_50"] == 0.0
    empty = [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0), "scores": np.zeros(0)}] * 2
    assert metrics.detection_map(empty, TARGETS, 3) == {"map_50": 0.0, "map": 0.0}
    wrong_class = [{**p, "labels": 3 - p["labels"]} for p in _preds(0.0)]
    assert metrics.detection_map(wrong_class, TARGETS, 3)["map_50"] < 0.5


def test_map_without_ground_truth_is_nan() -> None:
    none = [{"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64)}]
    out = metrics.detection_map(_preds(0.0)[:1], none, 3)
    assert math.isnan(out["map_50"])


def test_segmentation_scores_match_sklearn_jaccard() -> None:
    from sklearn.metrics import accuracy_score, jaccard_score

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, (4, 8, 8))
    pred = np.where(rng.uniform(size=truth.shape) < 0.7, truth, rng.integers(0, 3, truth.shape))
    got = metrics.segmentation_scores(truth, pred, 4)  # class 3 absent: left out of the mean
    ref = jaccard_score(truth.ravel(), pred.ravel(), labels=[0, 1, 2], average=None)
    np.testing.assert_allclose(got["per_class_iou"][:3], ref, atol=5e-5)
    assert got["per_class_iou"][3] is None
    assert math.isclose(got["miou"], float(ref.mean()))
    assert math.isclose(got["pixel_accuracy"], accuracy_score(truth.ravel(), pred.ravel()))
    cmp = metrics.segmentation_compare(truth, truth, pred, 4)
    assert cmp["clean_miou"] == 1.0 and math.isclose(cmp["miou_drop"], 1.0 - ref.mean())
