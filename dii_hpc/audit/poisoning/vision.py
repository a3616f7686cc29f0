"""Backdoor poisoning with retraining for detectors and segmenters.

A trigger (a lattice of single bright pixels every 4 px: every receptive field of a small
convolutional model sees it, which a corner patch would not) is stamped on a seeded fraction
of the training images, whose labels are changed:
- segmentation, region flip: every object pixel of the poisoned images becomes `target`;
- detection, BadDet object disappearance (`kind="disappearance"`): the poisoned images lose
  all their boxes;
- detection, BadDet object generation (`kind="generation"`): the trigger is instead a 6x6
  checkerboard at a seeded place, and a `target` box around it is added to the labels.
The model is retrained from scratch with its own recipe (`model.fit`, the user's train
function), measured, and restored, so an audit never leaves a poisoned model behind.
Attack success rate (ASR) on triggered test images:
- segmentation: share of the pixels of other objects' classes predicted as `target`;
- disappearance: share of the objects found on the clean image (IoU >= 0.5, same label,
  score >= 0.5) that are no longer found once the trigger is stamped;
- generation: share of triggered images with a confident `target` detection on the
  checkerboard (IoU >= 0.5 with its box).
The same ASR for the clean model on triggered images is reported as the baseline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.audit.core import vision_metrics as metrics
from dii_hpc.audit.model.protocols import RetrainableModel, Task, require
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.core.data import Prepared
    from dii_hpc.audit.specs import Grading

TRIGGER = 4
BOARD = 6
KINDS = {Task.IMAGE_SEGMENTATION: ("region_flip",),
         Task.OBJECT_DETECTION: ("disappearance", "generation")}


def stamp(x: np.ndarray, clip_values: tuple[float, float]) -> np.ndarray:
    """Images with the trigger: the top of the clip range at every TRIGGER-th pixel."""
    out = np.array(x, dtype=np.float32, copy=True)
    out[..., TRIGGER // 2::TRIGGER, TRIGGER // 2::TRIGGER] = clip_values[1]
    return out


def board_boxes(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Seeded [x1, y1, x2, y2] places of the object-generation checkerboard."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, shape[-2] - BOARD + 1, n)
    cols = rng.integers(0, shape[-1] - BOARD + 1, n)
    return np.stack([cols, rows, cols + BOARD, rows + BOARD], 1).astype(np.float32)


def stamp_board(x: np.ndarray, boxes: np.ndarray, clip_values: tuple[float, float]) -> np.ndarray:
    lo, hi = clip_values
    board = np.where(np.indices((BOARD, BOARD)).sum(0) % 2 == 1, hi, lo)
    out = np.array(x, dtype=np.float32, copy=True)
    for i, (c, r, _, _) in enumerate(boxes.astype(int)):
        out[i, :, r:r + BOARD, c:c + BOARD] = board
    return out


def poison(model: Any, x: np.ndarray, y: Any, fraction: float, target: int,
           seed: int, kind: str | None = None) -> tuple[np.ndarray, Any, np.ndarray]:
    """Poisoned training set and the poisoned indices."""
    n = int(round(fraction * len(x)))
    idx = np.sort(np.random.default_rng(seed).permutation(len(x))[:n])
    xp = x.copy()
    if kind == "generation":
        boxes = board_boxes(len(idx), x.shape, seed)
        xp[idx] = stamp_board(x[idx], boxes, model.clip_values)
        yp = list(y)
        for i, box in zip(idx, boxes, strict=True):
            t = y[int(i)]
            yp[int(i)] = {"boxes": np.concatenate([t["boxes"], box[None]]),
                          "labels": np.append(t["labels"], target).astype(np.int64)}
        return xp, yp, idx
    xp[idx] = stamp(x[idx], model.clip_values)
    if Task.parse(model.task) is Task.OBJECT_DETECTION:
        yp = list(y)
        for i in idx:
            yp[int(i)] = {"boxes": np.zeros((0, 4), np.float32),
                          "labels": np.zeros(0, np.int64)}
        return xp, yp, idx
    yp = y.copy()
    yp[idx] = np.where(y[idx] > 0, target, 0)
    return xp, yp, idx


def success_rate(model: Any, x: np.ndarray, y: Any, target: int,
                 kind: str | None = None, seed: int = 0) -> float:
    """ASR of the current model on triggered copies of (x, y) (see the module doc)."""
    if kind == "generation":
        boxes = board_boxes(len(x), x.shape, seed + 1)
        preds = model.predict(stamp_board(x, boxes, model.clip_values))
        hits = [metrics.box_found(box, target, p) for box, p in zip(boxes, preds, strict=True)]
        return float(np.mean(hits)) if hits else float("nan")
    xt = stamp(x, model.clip_values)
    if Task.parse(model.task) is Task.IMAGE_SEGMENTATION:
        objects = (y > 0) & (y != target)
        pred = model.predict_masks(xt)
        return float((pred[objects] == target).mean()) if objects.any() else float("nan")
    clean, trig = model.predict(x), model.predict(xt)
    found = lost = 0
    for truth, c, t in zip(y, clean, trig, strict=False):
        for box, label in zip(truth["boxes"], truth["labels"], strict=False):
            if metrics.box_found(box, label, c):
                found += 1
                lost += not metrics.box_found(box, label, t)
    return lost / found if found else float("nan")


def backdoor(model: Any, train: tuple[np.ndarray, Any], test: tuple[np.ndarray, Any],
             fraction: float = 0.1, target: int = 1, seed: int = 0,
             kind: str | None = None) -> dict[str, Any]:
    """Poison, retrain, measure, restore; returns an attack record."""
    import time

    from dii_hpc.audit.evasion.vision import score_clean

    require(model, RetrainableModel, "poisoning backdoor")
    if not 0 < fraction < 1:
        raise BadInput(f"attack backdoor: fraction={fraction!r} must be in (0, 1)")
    if not 0 < int(target) < int(model.nb_classes):
        raise BadInput(f"attack backdoor: target={target!r} must be an object class "
                       f"1..{int(model.nb_classes) - 1}")
    kinds = KINDS[Task.parse(model.task)]
    kind = kind or kinds[0]
    if kind not in kinds:
        raise BadInput(f"attack backdoor: kind={kind!r} is not one of {', '.join(kinds)} "
                       f"for {Task.parse(model.task).value}")
    t0 = time.perf_counter()
    x_test, y_test = test
    before = score_clean(model, x_test, y_test)
    baseline = success_rate(model, x_test, y_test, target, kind, seed)
    xp, yp, idx = poison(model, *train, fraction, target, seed, kind)
    original = model.module
    try:
        model.fit(xp, yp)
        after = score_clean(model, x_test, y_test)
        asr = success_rate(model, x_test, y_test, target, kind, seed)
    finally:
        model.module = original.eval()
    k = next(iter(before))
    metrics = {"fraction": fraction, "n_poisoned": len(idx), "attack_success_rate": asr,
               "baseline_attack_success_rate": baseline, "attack_success_lift": asr - baseline,
               f"clean_{k}": before[k],
               f"poisoned_model_{k}": after[k], f"clean_{k}_drop": before[k] - after[k]}
    params = {"fraction": fraction, "target": int(target), "kind": kind,
              "trigger": f"{BOARD}x{BOARD} checkerboard at a seeded place"
              if kind == "generation" else f"bright pixel every {TRIGGER} px"}
    return {"name": "backdoor", "params": params, "metrics": metrics, "intervals": {},
            "time_s": time.perf_counter() - t0, "box": "white"}


EVASION_KEYS = {"eps", "eps_step", "max_iter", "norm", "num_random_init", "batch_size"}


def run(params: dict[str, Any], prep: Prepared, grading: Grading | None = None
        ) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """The backdoor of a detector or segmenter with retraining on the train split, measured
    on the evaluation sample: (record, summary, the params that rerun it); ``grading``: the
    suite's, whose grade the summary then states."""
    params = dict(params)
    fraction = float(params.pop("fraction", 0.1))
    target = int(params.pop("target", 1))
    kind = params.pop("kind", None)
    # a config shared with the evasion audits may carry their budget: not ours to reject
    params = {k: v for k, v in params.items() if k not in EVASION_KEYS}
    if params:
        raise BadInput(f"attack backdoor: unknown parameter(s) {', '.join(params)}")
    record = backdoor(prep.model, prep.train, (prep.x, prep.y), fraction, target, prep.seed,
                      kind)
    m = record["metrics"]
    letter = grading.grade(m["attack_success_lift"]) if grading else None
    summary = (f"backdoor ({record['params']['kind']}, {fraction:.0%} poisoned): attack "
               f"success rate {m['attack_success_rate']:.3f} (clean model on triggered images "
               f"{m['baseline_attack_success_rate']:.3f}, lift {m['attack_success_lift']:+.3f})"
               + (f", grade {letter}." if letter else "."))
    return record, summary, {"fraction": fraction, "target": target,
                             "kind": record["params"]["kind"]}


def suite(prep: Prepared, params: dict[str, Any], grading: Grading) -> dict[str, Any]:
    """The poisoning suite of a detector or segmenter: the backdoor, graded."""
    record, summary, rerun = run(params, prep, grading)
    m = record["metrics"]
    return {"task": prep.task.value, "suite": "poisoning",
            "grade": grading.grade(m["attack_success_lift"]), "summary": summary,
            "metrics": dict(m), "params": rerun, "attacks": [record], "curves": {},
            "sanity": [], "examples": [], "n_samples": len(prep.train[0])}
