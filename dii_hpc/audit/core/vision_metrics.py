"""Detection and segmentation metrics, from maintained implementations.

mAP comes from pycocotools' COCOeval (the reference implementation behind torchmetrics'
and torchvision's numbers; torchmetrics' MeanAveragePrecision itself needs torchvision,
which cannot be installed beside this torch build). IoU and pixel accuracy come from
scikit-learn's confusion matrix. Boxes are torchvision's [x1, y1, x2, y2] in pixels.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

FOUND_SCORE = 0.5  # a detection at or above this score counts as an object the model sees


def _coco_gt(targets: list[dict[str, Any]], nb_classes: int) -> Any:
    from pycocotools.coco import COCO

    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for i, t in enumerate(targets):
        images.append({"id": i})
        for box, label in zip(np.asarray(t["boxes"]).reshape(-1, 4), np.asarray(t["labels"]),
                              strict=False):
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(label),
                         "bbox": [float(box[0]), float(box[1]), w, h], "area": w * h,
                         "iscrowd": 0})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": c} for c in range(nb_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def detection_map(preds: list[dict[str, Any]], targets: list[dict[str, Any]],
                  nb_classes: int) -> dict[str, float]:
    """mAP@0.5 and mAP@[0.5:0.95] (COCO definition, all areas, 100 detections per image).

    An image set with no ground-truth objects has no mAP: NaN, which the result writer
    turns into the string "nan" rather than a misleading 0.
    """
    from pycocotools.cocoeval import COCOeval

    gt = _coco_gt(targets, nb_classes)
    dets = []
    for i, p in enumerate(preds):
        for box, label, score in zip(np.asarray(p["boxes"]).reshape(-1, 4),
                                     np.asarray(p["labels"]), np.asarray(p["scores"]),
                                     strict=False):
            dets.append({"image_id": i, "category_id": int(label), "score": float(score),
                         "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]),
                                  float(box[3] - box[1])]})
    if not gt.dataset["annotations"]:
        return {"map_50": float("nan"), "map": float("nan")}
    if not dets:
        return {"map_50": 0.0, "map": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map_50": max(float(ev.stats[1]), 0.0), "map": max(float(ev.stats[0]), 0.0)}


def segmentation_scores(masks: np.ndarray, pred: np.ndarray,
                        nb_classes: int) -> dict[str, Any]:
    """Mean IoU over classes present in truth or prediction, pixel accuracy, per-class IoU."""
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(np.asarray(masks).reshape(-1), np.asarray(pred).reshape(-1),
                          labels=list(range(nb_classes)))
    inter = np.diag(cm).astype(float)
    union = cm.sum(0) + cm.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), np.nan)
    present = union > 0
    return {"miou": float(np.nanmean(iou[present])) if present.any() else float("nan"),
            "pixel_accuracy": float(inter.sum() / max(cm.sum(), 1)),
            "per_class_iou": [None if np.isnan(v) else round(float(v), 4) for v in iou]}


def segmentation_compare(masks: np.ndarray, clean: np.ndarray, adv: np.ndarray,
                         nb_classes: int) -> dict[str, Any]:
    """Clean vs attacked scores and the per-class IoU drop (what a report row shows)."""
    c = segmentation_scores(masks, clean, nb_classes)
    a = segmentation_scores(masks, adv, nb_classes)
    drop = [None if x is None or y is None else round(x - y, 4)
            for x, y in zip(c["per_class_iou"], a["per_class_iou"], strict=False)]
    return {"clean_miou": c["miou"], "adv_miou": a["miou"],
            "miou_drop": c["miou"] - a["miou"],
            "relative_miou": a["miou"] / c["miou"] if c["miou"] > 0 else float("nan"),
            "clean_pixel_accuracy": c["pixel_accuracy"], "adv_pixel_accuracy": a["pixel_accuracy"],
            "per_class_iou_clean": c["per_class_iou"], "per_class_iou_adv": a["per_class_iou"],
            "per_class_iou_drop": drop}


def detection_compare(targets: list[dict[str, Any]], clean: list[dict[str, Any]],
                      adv: list[dict[str, Any]], nb_classes: int) -> dict[str, float]:
    c = detection_map(clean, targets, nb_classes)
    a = detection_map(adv, targets, nb_classes)
    return {"clean_map_50": c["map_50"], "adv_map_50": a["map_50"],
            "clean_map": c["map"], "adv_map": a["map"],
            "map_50_drop": c["map_50"] - a["map_50"],
            "relative_map_50": a["map_50"] / c["map_50"] if c["map_50"] > 0 else float("nan")}


def box_found(box: np.ndarray, label: int, pred: dict[str, np.ndarray]) -> bool:
    """Whether a confident prediction of `label` overlaps `box` with IoU >= 0.5."""
    keep = (pred["labels"] == label) & (pred["scores"] >= FOUND_SCORE)
    if not keep.any():
        return False
    b = pred["boxes"][keep]
    w = np.clip(np.minimum(b[:, 2], box[2]) - np.maximum(b[:, 0], box[0]), 0, None)
    h = np.clip(np.minimum(b[:, 3], box[3]) - np.maximum(b[:, 1], box[1]), 0, None)
    inter = w * h
    union = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) + (box[2] - box[0]) * (box[3] - box[1])
    return bool((inter / np.maximum(union - inter, 1e-9) >= 0.5).any())
