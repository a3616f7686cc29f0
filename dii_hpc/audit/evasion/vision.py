"""Evasion attacks on detectors and segmenters: catalogue, parameters, generation, scoring.

Catalogue (level II names; eps as a fraction of the clip range, i.e. 0.1 = 10%):
- fgsm: ART FastGradientMethod, Linf eps 0.1, one step on the task loss;
- pgd: ART ProjectedGradientDescentNumpy, Linf eps 0.1, eps_step 0.025, 10 steps, no
  random start (ART allows random starts for classifiers only);
- dpatch / robust_dpatch (detection): ART DPatch / RobustDPatch, an 8x8 patch trained on the
  detector's losses (untargeted unless `target_label` is given);
- patch (segmentation, and detection): a universal 8x8 patch at a seeded random place per
  image, optimised by signed-gradient ascent through the estimator's `loss_gradient`
  (`patch.py`; ART's patch attacks need a classifier or an object detector).
The loss attacked is the model's own (detector: sum of its losses; segmenter: mean pixel
cross-entropy) against the ground truth, as the audit engine does for classifiers.
Targeted (`target: CLASS`): segmentation attacks push every object pixel to CLASS; on
detectors DPatch generates CLASS objects. Both report attack_success_rate and the same
rate on clean images (baseline_attack_success_rate), see `targeted_success`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.audit.core import vision_metrics as metrics
from dii_hpc.audit.core.randomness import seed_all
from dii_hpc.audit.evasion.construct import build, jsonable, parse_norm
from dii_hpc.audit.model.protocols import GradientModel, Task
from dii_hpc.audit.specs import AttackSpec, Shape
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.specs import Call, Outcome

DET, SEG = Task.OBJECT_DETECTION, Task.IMAGE_SEGMENTATION
LINF_KEYS = ("eps", "eps_step", "norm", "num_random_init")


def _patch(shape: Shape) -> dict[str, Any]:
    """A patch's budget is its size (ART's defaults assume 0-255 images)."""
    return {"patch_shape": (shape.input_shape[0], 8, 8), "learning_rate": 0.05 * shape.span,
            "max_iter": 30, "batch_size": 32}


def _robust_patch(shape: Shape) -> dict[str, Any]:
    return {**_patch(shape), "sample_size": 1, "patch_location": (0, 0), "crop_range": (0, 0)}


def attack_params(name: str | AttackSpec, model: Any,
                  overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The record's defaults for `model`'s range, then the user's overrides; checks the
    task and the budget."""
    from dii_hpc.audit.model.validate import check_budget
    from dii_hpc.audit.specs import attack, check, shape_of

    spec = attack(name) if isinstance(name, str) else name
    check(spec, model)
    task = Task.parse(model.task)
    defaults = spec.defaults(shape_of(model))
    overrides = dict(overrides or {})
    if "patch_shape" in defaults:
        # a config shared with fgsm/pgd carries their Linf budget: a patch is bounded by
        # its size instead, so those keys do not apply to it
        overrides = {k: v for k, v in overrides.items() if k not in LINF_KEYS}
    params = {**defaults, **overrides}
    if "norm" in params:
        params["norm"] = parse_norm(params["norm"])
    for key in ("patch_shape", "patch_location", "crop_range"):
        if key in params:
            params[key] = tuple(int(v) for v in params[key])
    if params.get("num_random_init"):
        raise BadInput(f"attack {spec.name}: num_random_init must be 0 for {task.value} (ART "
                       "supports random starts for classifiers only)")
    check_budget(params, model.clip_values, int(np.prod(model.input_shape)), spec.name)
    return params


def make(class_path: str, estimator: Any, params: dict[str, Any], label: str) -> Any:
    """ART class (or our patch) built on the estimator; refusals become one-line BadInput."""
    from art.exceptions import EstimatorError

    if class_path.startswith("dii_hpc."):
        from dii_hpc.audit.evasion.vision_patch import UniversalPatch

        try:
            return UniversalPatch(estimator, **params)
        except TypeError as err:
            raise BadInput(f"attack {label}: bad parameters: {err}") from err
    try:
        return build(class_path, estimator, params, label)
    except EstimatorError as err:  # pragma: no cover - build converts most ART refusals
        raise BadInput(f"attack {label}: ART refused the estimator: {err}") from err


def generate(attack: Any, x: np.ndarray, y: Any, seed: int, label: str,
             target_label: int | None = None) -> np.ndarray:
    """x_adv: patch attacks train a patch then paste it; others perturb x directly.

    `target_label` (DPatch only) asks for a patch that makes the detector see that class.
    """
    seed_all(seed)
    extra = {} if target_label is None else {"target_label": int(target_label)}
    if extra:
        y = None
    if isinstance(y, list):  # DPatch reads "scores" from targets: ground truth is certain
        y = [{**t, "scores": np.ones(len(t["labels"]), np.float32)} for t in y]
    if type(attack).__name__ == "RobustDPatch" and not attack.targeted:
        y = None  # ART: untargeted RobustDPatch attacks the model's own predictions
    try:
        if callable(getattr(attack, "apply_patch", None)):
            from dii_hpc.audit.evasion.vision_patch import train_and_apply

            return train_and_apply(attack, x, y, seed, **extra)
        return np.asarray(attack.generate(x=x, y=y), dtype=np.float32)
    except (ValueError, TypeError) as err:
        raise BadInput(f"attack {label}: ART failed: {str(err).splitlines()[0]}") from err


def score(model: Any, x: np.ndarray, y: Any, x_adv: np.ndarray) -> dict[str, Any]:
    """Clean vs attacked task metrics plus perturbation sizes."""
    delta = (x_adv - x).reshape(len(x), -1)
    out: dict[str, Any] = {
        "mean_perturbation_linf": float(np.abs(delta).max(1).mean()) if len(x) else 0.0,
        "mean_perturbation_l2": float(np.linalg.norm(delta, axis=1).mean()) if len(x) else 0.0}
    if Task.parse(model.task) is DET:
        return metrics.detection_compare(y, model.predict(x), model.predict(x_adv),
                                         model.nb_classes) | out
    return metrics.segmentation_compare(y, model.predict_masks(x), model.predict_masks(x_adv),
                                        model.nb_classes) | out


def score_clean(model: Any, x: np.ndarray, y: Any) -> dict[str, float]:
    """The headline metric on clean data: {"map_50": ...} or {"miou": ...}."""
    if Task.parse(model.task) is DET:
        return {"map_50": metrics.detection_map(model.predict(x), y, model.nb_classes)["map_50"]}
    return {"miou": metrics.segmentation_scores(y, model.predict_masks(x),
                                                model.nb_classes)["miou"]}


def run(spec: AttackSpec, call: Call) -> Outcome:
    """An evasion record's run on a detector or a segmenter (the level II result shows
    the task metrics clean and attacked)."""
    from dii_hpc.audit.specs import Outcome

    model = call.model
    params = attack_params(spec, model, call.params)
    record, x_adv = run_class(model, call.prep.x, call.prep.y, spec.options["vision_class"],
                              params, call.seed, spec.name)
    return Outcome(record, len(call.prep.x), summary=sentence(model, record["metrics"],
                                                              spec.name), x_adv=x_adv)


def run_named(model: Any, x: np.ndarray, y: Any, name: str,
              overrides: dict[str, Any] | None = None,
              seed: int = 0) -> tuple[dict[str, Any], np.ndarray]:
    """One catalogue attack -> (attack record, x_adv)."""
    from dii_hpc.audit.core.data import Prepared
    from dii_hpc.audit.specs import Call, attack

    spec = attack(name)
    out = run(spec, Call(None, Prepared.sample(model, x, y, seed), dict(overrides or {})))
    assert out.x_adv is not None
    return out.record, out.x_adv


def run_class(model: Any, x: np.ndarray, y: Any, class_path: str, params: dict[str, Any],
              seed: int, label: str) -> tuple[dict[str, Any], np.ndarray]:
    """Any attack class on the model's estimator (level III uses this with ART paths)."""
    import random

    params = dict(params)
    target = _target(model, params.pop("target", None), class_path, label)
    y_attack, target_label = y, None
    if target is not None and Task.parse(model.task) is SEG:
        y_attack, params["targeted"] = np.where(y > 0, target, 0), True  # objects -> target
    elif target is not None:
        target_label = target
    seed_all(seed)  # some attacks draw their initial patch in __init__ (DPatch)
    random.seed(seed)
    t0 = time.perf_counter()
    attack = make(class_path, model.art_estimator(), params, label)
    x_adv = generate(attack, x, y_attack, seed, label, target_label)
    elapsed = time.perf_counter() - t0
    shown = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    found = score(model, x, y, x_adv)
    if target is not None:
        shown["target"] = target
        found |= targeted_success(model, x, y, x_adv, target)
    record = {"name": label, "params": jsonable(shown), "metrics": found,
              "intervals": {}, "time_s": elapsed, "box": "white"}
    return record, x_adv


def _target(model: Any, target: Any, class_path: str, label: str) -> int | None:
    """A targeted attack's class: an object class; on detectors DPatch only (ART's API)."""
    if target is None:
        return None
    n = int(model.nb_classes)
    if not isinstance(target, int) or not 0 < target < n:
        raise BadInput(f"attack {label}: target={target!r} must be an object class 1..{n - 1}")
    if Task.parse(model.task) is DET and class_path.rsplit(".", 1)[-1] != "DPatch":
        raise BadInput(f"attack {label}: targeted attacks on detectors: use dpatch "
                       "(object generation with target_label)")
    return target


def targeted_success(model: Any, x: np.ndarray, y: Any, x_adv: np.ndarray,
                     target: int) -> dict[str, float]:
    """Attack success rate of a targeted attack, and the same rate on clean images.

    Segmentation (objects relabelled `target`, background kept): share of the pixels of
    other objects' classes predicted as `target`. Detection:
    share of images with a confident (score >= 0.5) `target` detection that matches no
    ground-truth `target` object (IoU < 0.5), i.e. a generated object.
    """
    if Task.parse(model.task) is SEG:
        other = (y > 0) & (y != target)
        rate = [float((model.predict_masks(a)[other] == target).mean()) if other.any()
                else float("nan") for a in (x, x_adv)]
    else:
        rate = []
        for images in (x, x_adv):
            hits = 0
            for pred, truth in zip(model.predict(images), y, strict=False):
                keep = (pred["labels"] == target) & (pred["scores"] >= 0.5)
                own = [{"boxes": truth["boxes"], "labels": truth["labels"],
                        "scores": np.ones(len(truth["labels"]))}]
                hits += any(not metrics.box_found(b, target, own[0]) for b in pred["boxes"][keep])
            rate.append(hits / max(len(y), 1))
    return {"baseline_attack_success_rate": rate[0], "attack_success_rate": rate[1]}


# ---- the records of the patch attacks (FGSM and PGD are `evasion.catalogue`'s) ----------
def _vision(name: str, vision_class: str, tasks: tuple[Task, ...], defaults: Any,
            doc: str) -> AttackSpec:
    return AttackSpec(name, "evasion", "art", tuple(t.value for t in tasks), GradientModel,
                      run, doc, defaults, "white", options={"vision_class": vision_class})


DPATCH = _vision("dpatch", "art.attacks.evasion.DPatch", (DET,), _patch,
                 "DPatch adversarial patch (ART)")
ROBUST_DPATCH = _vision("robust_dpatch", "art.attacks.evasion.RobustDPatch", (DET,),
                        _robust_patch, "RobustDPatch adversarial patch (ART)")
PATCH = _vision("patch", "dii_hpc.audit.evasion.vision_patch.UniversalPatch", (DET, SEG), _patch,
                "universal patch through the estimator's loss gradient")


def key(model: Any) -> str:
    """The headline metric: map_50 (detection) or miou (segmentation)."""
    return "map_50" if Task.parse(model.task) is Task.OBJECT_DETECTION else "miou"


def sentence(model: Any, metrics: dict[str, Any], name: str) -> str:
    k = key(model)
    label = "mAP@0.5" if k == "map_50" else "mean IoU"
    return (f"{label} falls from {metrics[f'clean_{k}']:.3f} to {metrics[f'adv_{k}']:.3f} "
            f"under {name}.")
