"""The ART evasion catalogue: one `AttackSpec` per attack (levels I and II).

Every attack's eps and step are set explicitly from the data's value range and the number of
features (ART's defaults assume MNIST in [0, 1]): Linf eps = 10% of the range, L2 the same
per pixel; a user's ``--param`` wins. ``batch_size`` is set too: ART's default of 1 for
CW/DeepFool/HSJ is 50x slower than needed. FGSM and PGD also attack detectors and segmenters
(`evasion.vision`: the task's own loss, its own ART class and defaults). The torch engine
has its own records of the same names (`evasion.torch_engine.catalogue`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.audit.evasion.generate import run_art
from dii_hpc.audit.model.protocols import ClassGradientModel, GradientModel, Predictor, Task
from dii_hpc.audit.specs import CLASSIFIERS, LABEL_TASKS, AttackSpec, Shape

VISION = (Task.OBJECT_DETECTION.value, Task.IMAGE_SEGMENTATION.value)
IMAGES = (Task.IMAGE_CLASSIFICATION.value,)
BATCH = 128


def _eps(shape: Shape) -> float:
    return 0.1 * shape.span


def _eps2(shape: Shape) -> float:
    return _eps(shape) * float(np.sqrt(shape.features))


def _random_init(shape: Shape) -> int:
    """ART draws random starts for classifiers only."""
    return 0 if shape.task.is_regression else 1


def fgsm_defaults(shape: Shape) -> dict[str, Any]:
    if shape.task.is_vision:
        return {"norm": np.inf, "eps": _eps(shape), "eps_step": _eps(shape),
                "num_random_init": 0, "batch_size": 32}
    return {"norm": np.inf, "eps": _eps(shape), "num_random_init": 0, "batch_size": BATCH}


def pgd_defaults(shape: Shape) -> dict[str, Any]:
    eps = _eps(shape)
    if shape.task.is_vision:  # ART: no random start outside classification
        return {"norm": np.inf, "eps": eps, "eps_step": eps / 4, "max_iter": 10,
                "num_random_init": 0, "batch_size": 32}
    return {"norm": np.inf, "eps": eps, "eps_step": eps / 4, "max_iter": 20,
            "num_random_init": _random_init(shape), "batch_size": BATCH}


def pgd_l2_defaults(shape: Shape) -> dict[str, Any]:
    eps = _eps2(shape)
    return {"norm": 2, "eps": eps, "eps_step": eps / 4, "max_iter": 20,
            "num_random_init": _random_init(shape), "batch_size": BATCH}


def apgd_defaults(shape: Shape) -> dict[str, Any]:
    eps = _eps(shape)
    return {"norm": np.inf, "eps": eps, "eps_step": eps / 4, "max_iter": 20,
            "nb_random_init": 1, "loss_type": "cross_entropy" if shape.native else None,
            "batch_size": BATCH}


def cw_defaults(shape: Shape) -> dict[str, Any]:
    return {"confidence": 0.0, "learning_rate": 0.01 * shape.span, "binary_search_steps": 3,
            "max_iter": 10, "initial_const": 0.1, "batch_size": BATCH}


def deepfool_defaults(shape: Shape) -> dict[str, Any]:
    return {"max_iter": 50, "epsilon": 1e-6, "nb_grads": 10, "batch_size": BATCH}


def square_defaults(shape: Shape) -> dict[str, Any]:
    return {"norm": np.inf, "eps": _eps(shape), "max_iter": 100, "p_init": 0.3,
            "nb_restarts": 1, "batch_size": BATCH}


def hsj_defaults(shape: Shape) -> dict[str, Any]:
    return {"norm": 2, "max_iter": 3, "max_eval": 100, "init_eval": 10, "init_size": 20,
            "batch_size": BATCH}


def _art(name: str, art_class: str, box: str, needs: type[Any], tasks: tuple[str, ...],
         defaults: Any, doc: str, *, deterministic: bool, vision_class: str | None = None,
         native: bool = True) -> AttackSpec:
    """An ART attack's record: ``deterministic`` attacks treat every sample on their own
    (ART is called per batch when a progress bar shows); ``native``: ART's own estimator of a
    torch model may serve (HopSkipJump queries in float64, which only the numpy adapter
    casts)."""
    return AttackSpec(name, "evasion", "art", tasks, needs, run_art, doc, defaults, box,
                      splits=True, options={"art_class": art_class, "deterministic": deterministic,
                               "vision_class": vision_class, "native": native})


FGSM = _art("fgsm", "art.attacks.evasion.FastGradientMethod", "white", GradientModel,
            LABEL_TASKS + VISION, fgsm_defaults, "one signed-gradient step",
            deterministic=True, vision_class="art.attacks.evasion.FastGradientMethod")
PGD = _art("pgd", "art.attacks.evasion.ProjectedGradientDescent", "white", GradientModel,
           LABEL_TASKS + VISION, pgd_defaults, "projected gradient descent, Linf",
           deterministic=False,
           vision_class="art.attacks.evasion.ProjectedGradientDescentNumpy")
PGD_L2 = _art("pgd_l2", "art.attacks.evasion.ProjectedGradientDescent", "white",
              GradientModel, LABEL_TASKS, pgd_l2_defaults, "projected gradient descent, L2",
              deterministic=False)
APGD = _art("apgd", "art.attacks.evasion.AutoProjectedGradientDescent", "white",
            GradientModel, CLASSIFIERS, apgd_defaults, "AutoPGD (step-size free PGD), Linf",
            deterministic=False)
CW = _art("cw", "art.attacks.evasion.CarliniL2Method", "white", ClassGradientModel,
          CLASSIFIERS, cw_defaults, "Carlini-Wagner L2 (unbounded)", deterministic=True)
DEEPFOOL = _art("deepfool", "art.attacks.evasion.DeepFool", "white", ClassGradientModel,
                CLASSIFIERS, deepfool_defaults, "DeepFool (unbounded)", deterministic=True)
SQUARE = _art("square", "art.attacks.evasion.SquareAttack", "black", Predictor, IMAGES,
              square_defaults, "score-based Square attack, Linf", deterministic=False)
HSJ = _art("hsj", "art.attacks.evasion.HopSkipJump", "black", Predictor, CLASSIFIERS,
           hsj_defaults, "decision-based HopSkipJump, L2 (unbounded)", deterministic=False,
           native=False)
