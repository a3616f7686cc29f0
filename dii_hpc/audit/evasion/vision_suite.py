"""Level I evasion suite for detectors and segmenters, and its example images.

Suite: fgsm and pgd at the reference Linf eps (10% of the clip range), plus a patch attack
(detection: ART DPatch; segmentation: `vision_patch.UniversalPatch`), all with their
records' defaults. On top of the per-attack records:
- the task metric (mAP@0.5 for detection, mean IoU for segmentation) clean and under the
  worst attack; the grade is the evasion suite's (`evasion.suite.GRADING` of worst / clean,
  the thresholds of the classification suite's relative robust accuracy);
- a PGD curve over eps = {2, 5, 10, 20}% of the range;
- sanity flags: zero input gradients, clean metric too low to audit, non-monotone curve.
Examples: PNGs of original | perturbation | attacked image, with predicted boxes or masks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.audit.evasion import vision as catalogue
from dii_hpc.audit.evasion.vision import key, sentence
from dii_hpc.audit.model.protocols import Task
from dii_hpc.audit.specs import Grading

SUITE = {Task.OBJECT_DETECTION: ("fgsm", "pgd", "dpatch"),
         Task.IMAGE_SEGMENTATION: ("fgsm", "pgd", "patch")}
CURVE_FRACTIONS = (0.02, 0.05, 0.1, 0.2)
CLEAN_FLOOR = 0.3


def suite_attacks(task: Task, subset: list[str] | None) -> tuple[str, ...]:
    from dii_hpc.errors import BadInput

    full = SUITE[task]
    unknown = [a for a in subset or [] if a not in full]
    if unknown:
        raise BadInput(f"suite evasion has no attack {unknown[0]!r} for {task.value}; "
                       f"suite attacks: {', '.join(full)}")
    return tuple(a for a in full if not subset or a in subset)


def run_suite(model: Any, x: np.ndarray, y: Any, *, seed: int = 0,
              attacks: list[str] | None = None,
              examples_dir: str | None = None, grading: Grading) -> dict[str, Any]:
    """The evasion suite on a detector or a segmenter, graded by the evasion suite's
    ``grading`` (passed in: the Suite record's module imports this one)."""
    task = Task.parse(model.task)
    k = key(model)
    records, advs = [], {}
    for name in suite_attacks(task, attacks):
        record, advs[name] = catalogue.run_named(model, x, y, name, seed=seed)
        records.append(record)
    clean = records[0]["metrics"][f"clean_{k}"]
    worst = min(r["metrics"][f"adv_{k}"] for r in records)
    score = worst / clean if clean > 0 else float("nan")
    curve = robustness_curve(model, x, y, seed)
    metrics = {f"clean_{k}": clean, f"adv_{k}": worst, f"relative_{k}": score,
               "worst_attack": min(records, key=lambda r: r["metrics"][f"adv_{k}"])["name"]}
    if task is Task.OBJECT_DETECTION:
        metrics |= {"clean_map": records[0]["metrics"]["clean_map"],
                    "adv_map": min(r["metrics"]["adv_map"] for r in records)}
    else:
        metrics |= {"clean_pixel_accuracy": records[0]["metrics"]["clean_pixel_accuracy"],
                    "adv_pixel_accuracy": min(r["metrics"]["adv_pixel_accuracy"]
                                              for r in records)}
    letter = grading.grade(score)
    pgd = advs.get("pgd")
    examples = write_examples(model, x, pgd, examples_dir) if examples_dir and pgd is not None \
        else []
    return {"task": task.value, "suite": "evasion", "grade": letter,
            "summary": f"{sentence(model, metrics, 'the worst suite attack')[:-1]} (grade {letter}).",
            "metrics": metrics, "attacks": records, "curves": {"robustness": curve},
            "sanity": sanity_flags(model, x, y, clean, curve), "examples": examples,
            "n_samples": len(x)}


def robustness_curve(model: Any, x: np.ndarray, y: Any, seed: int) -> list[dict[str, float]]:
    """PGD (Linf, 10 steps) at growing eps: how much of the task metric survives."""
    span = float(model.clip_values[1] - model.clip_values[0])
    k = key(model)
    points = []
    for frac in CURVE_FRACTIONS:
        eps = frac * span
        record, _ = catalogue.run_named(model, x, y, "pgd", {"eps": eps, "eps_step": eps / 4},
                                      seed=seed)
        points.append({"eps": eps, f"adv_{k}": record["metrics"][f"adv_{k}"]})
    return points


def sanity_flags(model: Any, x: np.ndarray, y: Any, clean: float,
                 curve: list[dict[str, float]]) -> list[dict[str, Any]]:
    """Signs the numbers cannot be trusted: dead gradients, a bad model, a rising curve."""
    grads = np.asarray(model.get_grad(x, y)).reshape(len(x), -1)
    zero = float((np.abs(grads).max(1) == 0).mean()) if len(x) else 0.0
    k = key(model)
    values = [p[f"adv_{k}"] for p in curve]
    mono = all(b <= a + 0.02 for a, b in zip(values, values[1:], strict=False))
    return [{"flag": "zero_gradients", "ok": zero <= 0.1,
             "detail": f"{zero:.1%} of images have an all-zero input gradient"},
            {"flag": "clean_metric_too_low", "ok": clean >= CLEAN_FLOOR,
             "detail": f"clean {k} {clean:.3f} (audit needs >= {CLEAN_FLOOR})"},
            {"flag": "non_monotone_curve", "ok": mono,
             "detail": f"{k} " + ("falls" if mono else "rises") + " with eps along the PGD curve"}]


def write_examples(model: Any, x: np.ndarray, x_adv: np.ndarray, out_dir: str,
                   k: int = 4) -> list[str]:
    """PNG triptychs: original, perturbation (rescaled), attacked; with boxes or masks."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    det = Task.parse(model.task) is Task.OBJECT_DETECTION
    n = min(k, len(x))
    clean = model.predict(x[:n]) if det else model.predict_masks(x[:n])
    adv = model.predict(x_adv[:n]) if det else model.predict_masks(x_adv[:n])
    lo, hi = model.clip_values
    names = []
    for i in range(n):
        fig, axes = plt.subplots(1, 3, figsize=(6, 2.2))
        delta = np.squeeze(x_adv[i] - x[i])
        panels = ((np.squeeze(x[i]), clean[i], "original"),
                  (delta, None, f"perturbation (max {np.abs(delta).max():.2g})"),
                  (np.squeeze(x_adv[i]), adv[i], "attacked"))
        for ax, (img, pred, title) in zip(axes, panels, strict=False):
            scale = {"vmin": lo, "vmax": hi} if pred is not None else {}
            ax.imshow(img if img.ndim == 2 else np.moveaxis(img, 0, -1), cmap="gray", **scale)
            if pred is not None:
                _overlay(ax, pred, det)
            ax.set_title(title, fontsize=7)
            ax.axis("off")
        name = f"vision_{i}.png"
        fig.savefig(os.path.join(out_dir, name), dpi=80)
        plt.close(fig)
        names.append(name)
    return names


def _overlay(ax: Any, pred: Any, det: bool) -> None:
    from matplotlib.patches import Rectangle

    if not det:
        ax.imshow(np.ma.masked_equal(pred, 0), cmap="tab10", alpha=0.45, vmin=0, vmax=9)
        return
    for box, label, s in zip(pred["boxes"], pred["labels"], pred["scores"], strict=False):
        if s < 0.3:
            continue
        ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1],
                               fill=False, color=f"C{int(label)}", lw=1))
