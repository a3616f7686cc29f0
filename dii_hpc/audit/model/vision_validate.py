"""One-line BadInput checks for detection and segmentation data and model outputs.

ART and torch fail late and verbosely on a box outside the image, a mask of the wrong size
or a detector that returns tensors instead of torchvision's list of dicts; these checks
name the split, the sample and the field before any attack starts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.errors import BadInput


def check_split(model: Any, x: Any, y: Any, where: str) -> tuple[np.ndarray, Any]:
    """Images plus targets (detection) or masks (segmentation), each checked in one line."""
    from dii_hpc.audit.model.protocols import Task

    x = check_images(model, x, where)
    if Task.parse(model.task) is Task.OBJECT_DETECTION:
        return x, check_targets(model, y, len(x), where)
    return x, check_masks(model, y, len(x), where)


def check_images(model: Any, x: Any, where: str) -> np.ndarray:
    """(N, *input_shape), finite, inside clip_values; returns float32."""
    x = np.asarray(x)
    if x.dtype == object or not np.issubdtype(x.dtype, np.number):
        raise BadInput(f"{where}: images must be a numeric array, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    shape = tuple(model.input_shape)
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise BadInput(f"{where}: images have shape {tuple(x.shape)}, model expects "
                       f"(N, {', '.join(map(str, shape))})")
    if not np.isfinite(x).all():
        raise BadInput(f"{where}: images contain NaN or infinite values")
    lo, hi = model.clip_values
    if x.size and (x.min() < lo - 1e-6 or x.max() > hi + 1e-6):
        raise BadInput(f"{where}: images span [{x.min():.4g}, {x.max():.4g}] outside the "
                       f"model's clip_values [{lo:.4g}, {hi:.4g}]")
    return x


def _labels(labels: Any, nb_classes: int, where: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.size and (not np.issubdtype(labels.dtype, np.number)
                        or not np.all(np.equal(np.mod(labels, 1), 0))):
        raise BadInput(f"{where}: label ids must be integers")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= nb_classes):
        raise BadInput(f"{where}: label ids span [{labels.min()}, {labels.max()}] but the "
                       f"model has nb_classes={nb_classes} (expected 0..{nb_classes - 1})")
    return labels


def check_targets(model: Any, targets: Any, n: int, where: str) -> list[dict[str, np.ndarray]]:
    """torchvision targets: N dicts of boxes (k, 4) [x1, y1, x2, y2] inside the image, labels."""
    if not isinstance(targets, (list, tuple)) or len(targets) != n:
        got = len(targets) if isinstance(targets, (list, tuple)) else type(targets).__name__
        raise BadInput(f"{where}: expected a list of {n} target dicts (one per image), got {got}")
    height, width = model.input_shape[-2:]
    out = []
    for i, t in enumerate(targets):
        if not isinstance(t, dict) or "boxes" not in t or "labels" not in t:
            raise BadInput(f"{where}[{i}]: a target must be a dict with 'boxes' and 'labels'")
        boxes = np.asarray(t["boxes"], dtype=np.float32)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise BadInput(f"{where}[{i}]: boxes have shape {boxes.shape}, expected (k, 4)")
        labels = _labels(t["labels"], int(model.nb_classes), f"{where}[{i}]")
        if labels.shape != (len(boxes),):
            raise BadInput(f"{where}[{i}]: {len(boxes)} boxes but labels of shape "
                           f"{labels.shape}")
        bad = ~np.isfinite(boxes).all(1) | (boxes[:, 0] < 0) | (boxes[:, 1] < 0) \
            | (boxes[:, 2] > width) | (boxes[:, 3] > height)
        if bad.any():
            raise BadInput(f"{where}[{i}]: box {boxes[bad][0].tolist()} lies outside the "
                           f"{width}x{height} image (boxes are [x1, y1, x2, y2] in pixels)")
        empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
        if empty.any():
            raise BadInput(f"{where}[{i}]: box {boxes[empty][0].tolist()} has x2 <= x1 or "
                           "y2 <= y1")
        out.append({"boxes": boxes, "labels": labels})
    return out


def check_masks(model: Any, masks: Any, n: int, where: str) -> np.ndarray:
    """Integer class maps (N, H, W) matching the images' spatial size and the class count."""
    masks = np.asarray(masks)
    want = (n, *tuple(model.input_shape[-2:]))
    if masks.shape != want:
        raise BadInput(f"{where}: masks have shape {masks.shape}, expected {want} "
                       "(one class id per pixel)")
    return _labels(masks, int(model.nb_classes), f"{where} masks")


def check_detections(out: Any, n: int, where: str = "detector output") -> None:
    """The torchvision contract in eval mode: N dicts of boxes (k, 4), labels (k,), scores (k,)."""
    hint = "a detector must return torchvision's format: [{'boxes', 'labels', 'scores'}] per image"
    if not isinstance(out, (list, tuple)) or len(out) != n:
        raise BadInput(f"{where}: got {type(out).__name__}"
                       f"{f' of length {len(out)}' if isinstance(out, (list, tuple)) else ''} "
                       f"for {n} images; {hint}")
    for i, d in enumerate(out):
        if not isinstance(d, dict) or not {"boxes", "labels", "scores"} <= set(d):
            raise BadInput(f"{where}[{i}]: {type(d).__name__} without boxes/labels/scores; {hint}")
        k = len(d["labels"])
        if tuple(d["boxes"].shape) != (k, 4) or len(d["scores"]) != k:
            raise BadInput(f"{where}[{i}]: boxes {tuple(d['boxes'].shape)}, labels ({k},), "
                           f"scores ({len(d['scores'])},) do not agree; {hint}")


def check_losses(losses: Any, where: str = "detector losses") -> None:
    """The torchvision contract in train mode: model(images, targets) -> dict of scalars."""
    if not isinstance(losses, dict) or not losses:
        raise BadInput(f"{where}: model(images, targets) in train mode returned "
                       f"{type(losses).__name__}, expected a dict of scalar loss tensors "
                       "(torchvision's format)")
    for key, value in losses.items():
        if getattr(value, "ndim", None) != 0:
            raise BadInput(f"{where}: loss {key!r} is not a scalar tensor")
