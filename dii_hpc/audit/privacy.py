"""Privacy: membership inference (levels I/II) with ROC, AUC and TPR at low FPR.

Members are a sample of the training split, non-members an equal-sized sample of the test
split (equal sizes: 0.5 balanced accuracy is a coin flip). Attacks:
- mi_loss / mi_confidence: threshold on the per-sample loss / true-class probability;
- mi_gap: ART's rule-based attack ("member iff correctly classified"); its balanced
  accuracy is exactly 0.5 + (train_acc - test_acc) / 2;
- mi_blackbox: ART's trained attack model, fitted on one half, scored on the other;
- mi_label_only: ART's decision-boundary attack (HopSkipJump distances), label access only.
Grade: the best AUC over attacks (`stats.GRADE_THRESHOLDS["privacy"]`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dii_hpc import progress
from dii_hpc.audit import stats
from dii_hpc.audit.protocols import Task, require
from dii_hpc.errors import BadInput

ATTACKS = {
    "mi_loss": "loss threshold (higher score = lower loss = member)",
    "mi_confidence": "true-class confidence threshold",
    "mi_gap": "rule-based gap attack: member iff correctly classified (ART)",
    "mi_blackbox": "trained black-box attack model on predictions + labels (ART)",
    "mi_label_only": "label-only decision-boundary distance (ART, HopSkipJump)",
    "attribute_inference": "hidden tabular feature from the others + the model (ART)",
}
CLASSIFICATION_SUITE = ("mi_loss", "mi_confidence", "mi_gap", "mi_blackbox", "mi_label_only")
REGRESSION_SUITE = ("mi_loss", "mi_blackbox")
LABEL_ONLY_MAX = 20  # per side: HopSkipJump per sample is the costly part


def membership_sets(members: tuple[np.ndarray, np.ndarray],
                    nonmembers: tuple[np.ndarray, np.ndarray], n: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Balanced (x, y, is_member) from up to n members and n non-members, seeded."""
    rng = np.random.default_rng(seed)
    k = min(n, len(members[0]), len(nonmembers[0]))
    im = rng.permutation(len(members[0]))[:k]
    io = rng.permutation(len(nonmembers[0]))[:k]
    x = np.concatenate([members[0][im], nonmembers[0][io]])
    y = np.concatenate([members[1][im], nonmembers[1][io]])
    return x, y, np.r_[np.ones(k, bool), np.zeros(k, bool)]


def run_attack(name: str, model: Any, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
               params: dict[str, Any] | None = None, seed: int = 0) -> dict[str, Any]:
    """One membership attack -> attack record with metrics, intervals and the ROC."""
    if name not in ATTACKS or name == "attribute_inference":
        raise BadInput(f"unknown membership attack {name!r}; known: "
                       f"{', '.join(a for a in ATTACKS if a.startswith('mi_'))}")
    task = Task.parse(model.task)
    if task.is_regression and name not in REGRESSION_SUITE:
        raise BadInput(f"attack {name} needs a classifier; on regressors use "
                       f"{', '.join(REGRESSION_SUITE)}")
    require(model, ("predict", "get_loss"), f"attack {name}")
    params = dict(params or {})
    t0 = time.perf_counter()
    np.random.seed(seed)
    if name == "mi_gap":
        record = _gap(model, x, y, is_member)
    else:
        eval_member, score = _SCORERS[name](model, x, y, is_member, params, seed)
        record = _threshold_record(eval_member, score)
    record.update(name=name, params=params, time_s=time.perf_counter() - t0)
    return record


def _loss_score(model: Any, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
                params: dict[str, Any], seed: int) -> tuple[np.ndarray, np.ndarray]:
    return is_member, -np.asarray(model.get_loss(x, y), dtype=np.float64)


def _confidence_score(model: Any, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
                      params: dict[str, Any], seed: int) -> tuple[np.ndarray, np.ndarray]:
    return is_member, softmax(model.predict(x))[np.arange(len(y)), y]


def _blackbox_score(model: Any, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
                    params: dict[str, Any], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit ART's attack model on one half of members/non-members, score the other half."""
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox

    from dii_hpc.audit.adapter import estimator_for
    from dii_hpc.audit.evasion import seed_all

    seed_all(seed)
    kw = {"attack_model_type": "rf", **params}
    if Task.parse(model.task).is_regression:
        kw.setdefault("input_type", "loss")
    try:
        attack = MembershipInferenceBlackBox(estimator_for(model), **kw)
    except (ValueError, TypeError) as err:
        raise BadInput(f"attack mi_blackbox: ART rejected the parameters: {err}") from err
    fit, held = _halves(is_member, seed)
    m, o = fit & is_member, fit & ~is_member
    attack.fit(x[m], y[m], x[o], y[o])
    prob = attack.infer(x[held], y[held], probabilities=True)
    prob = np.asarray(prob)
    return is_member[held], prob[:, -1] if prob.ndim == 2 else prob.reshape(-1)


def _label_only_score(model: Any, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
                      params: dict[str, Any], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """ART's boundary-distance attack, calibrated on one half and scored on the other."""
    from art.attacks.inference.membership_inference import LabelOnlyDecisionBoundary

    from dii_hpc.audit.adapter import estimator_for
    from dii_hpc.audit.evasion import seed_all

    hsj = {"norm": 2, "max_iter": 3, "max_eval": 100, "init_eval": 10, "init_size": 20,
           "verbose": False, **params}
    keep = _cap(is_member, LABEL_ONLY_MAX, seed)
    x, y, is_member = x[keep], y[keep], is_member[keep]
    seed_all(seed)
    attack = LabelOnlyDecisionBoundary(estimator_for(model, native=False))
    fit, held = _halves(is_member, seed)
    m, o = fit & is_member, fit & ~is_member
    try:
        attack.calibrate_distance_threshold(x[m], y[m], x[o], y[o], **hsj)
        prob = np.asarray(attack.infer(x[held], y[held], probabilities=True, **hsj))
    except (ValueError, TypeError) as err:
        raise BadInput(f"attack mi_label_only: ART rejected the parameters: {err}") from err
    return is_member[held], prob[:, -1] if prob.ndim == 2 else prob.reshape(-1)


def _gap(model: Any, x: np.ndarray, y: np.ndarray, is_member: np.ndarray) -> dict[str, Any]:
    """ART's rule-based attack; reports train/test accuracy so the identity can be checked."""
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBoxRuleBased

    from dii_hpc.audit.adapter import estimator_for

    guess = MembershipInferenceBlackBoxRuleBased(estimator_for(model)).infer(x, y).astype(bool)
    tpr, fpr = guess[is_member].mean(), guess[~is_member].mean()
    correct = np.argmax(model.predict(x), axis=1) == y
    metrics = {"balanced_accuracy": stats.balanced_accuracy(is_member, guess),
               "advantage": float(tpr - fpr), "tpr": float(tpr), "fpr": float(fpr),
               "train_accuracy": float(correct[is_member].mean()),
               "test_accuracy": float(correct[~is_member].mean()),
               "auc": stats.balanced_accuracy(is_member, guess)}
    return {"metrics": metrics,
            "intervals": {"tpr": stats.rate_interval(guess[is_member]),
                          "fpr": stats.rate_interval(guess[~is_member])},
            "roc": {"fpr": [0.0, float(fpr), 1.0], "tpr": [0.0, float(tpr), 1.0],
                    "auc": metrics["auc"]}}


def _threshold_record(is_member: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """AUC, best-threshold advantage/balanced accuracy and low-FPR TPRs from scores."""
    roc = stats.roc_summary(is_member, score)
    fpr, tpr = np.asarray(roc["fpr"]), np.asarray(roc["tpr"])
    adv = float((tpr - fpr).max()) if len(fpr) else 0.0
    k = int(np.argmax(tpr - fpr)) if len(fpr) else 0
    n_in, n_out = int(is_member.sum()), int((~is_member).sum())
    metrics = {"auc": roc["auc"], "advantage": adv, "balanced_accuracy": 0.5 + adv / 2,
               "tpr_at_1pct_fpr": roc["tpr_at_1pct_fpr"],
               "tpr_at_0.1pct_fpr": roc["tpr_at_0.1pct_fpr"]}
    intervals = {"tpr": stats.clopper_pearson(round(tpr[k] * n_in), n_in),
                 "fpr": stats.clopper_pearson(round(fpr[k] * n_out), n_out)}
    return {"metrics": metrics, "intervals": intervals,
            "roc": {"fpr": roc["fpr"], "tpr": roc["tpr"], "auc": roc["auc"]}}


def _halves(is_member: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split, stratified by membership, into fit and held-out halves."""
    rng = np.random.default_rng(seed + 1)
    fit = np.zeros(len(is_member), bool)
    for side in (True, False):
        idx = np.flatnonzero(is_member == side)
        fit[rng.permutation(idx)[: len(idx) // 2]] = True
    return fit, ~fit


def _cap(is_member: np.ndarray, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 2)
    keep = [rng.permutation(np.flatnonzero(is_member == s))[:k] for s in (True, False)]
    return np.sort(np.concatenate(keep))


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


_SCORERS = {"mi_loss": _loss_score, "mi_confidence": _confidence_score,
            "mi_blackbox": _blackbox_score, "mi_label_only": _label_only_score}


def run_suite(model: Any, members: tuple[np.ndarray, np.ndarray],
              nonmembers: tuple[np.ndarray, np.ndarray], *, n: int = 200,
              seed: int = 0, attacks: list[str] | None = None) -> dict[str, Any]:
    """Level I privacy: every membership attack of the task's suite, graded by max AUC."""
    task = Task.parse(model.task)
    full = REGRESSION_SUITE if task.is_regression else CLASSIFICATION_SUITE
    names = [a for a in full if not attacks or a in attacks]
    x, y, is_member = membership_sets(members, nonmembers, n, seed)
    with_attribute = task is Task.TABULAR_CLASSIFICATION and (
        not attacks or "attribute_inference" in attacks)
    records = []
    with progress.bar("privacy suite: attacks", len(names) + with_attribute) as bar:
        for a in names:
            records.append(run_attack(a, model, x, y, is_member, seed=seed))
            bar.advance()
        best = max(records, key=lambda r: r["metrics"]["auc"])
        if with_attribute:
            from dii_hpc.audit import attribute

            records.append(attribute.run(model, members, seed=seed))
            bar.advance()
    metrics = {"max_membership_auc": best["metrics"]["auc"],
               "max_advantage": max(r["metrics"].get("advantage", 0.0) for r in records),
               "max_tpr_at_1pct_fpr": max(r["metrics"].get("tpr_at_1pct_fpr", 0.0)
                                          for r in records)}
    if records[-1]["name"] == "attribute_inference":
        metrics["attribute_model_leakage"] = records[-1]["metrics"]["model_leakage"]
    if not task.is_regression:
        correct = np.argmax(model.predict(x), axis=1) == y
        metrics |= {"train_accuracy": float(correct[is_member].mean()),
                    "test_accuracy": float(correct[~is_member].mean())}
    letter = stats.grade("privacy", metrics["max_membership_auc"])
    k = int(is_member.sum())
    sanity = [{"flag": "enough_samples_for_low_fpr", "ok": k >= 1000,
               "detail": f"{k} non-members: TPR at 0.1% FPR needs >= 1000 to be meaningful"}]
    return {"task": task.value, "suite": "privacy", "grade": letter,
            "summary": f"The strongest membership attack ({best['name']}) reaches AUC "
                       f"{best['metrics']['auc']:.3f} (grade {letter}).",
            "metrics": metrics, "attacks": records,
            "curves": {"roc": best["roc"]}, "sanity": sanity, "examples": [],
            "n_samples": int(len(x))}
