"""Privacy: membership inference attacks (levels I/II) with ROC, AUC and TPR at low FPR.

Members are a sample of the training split, non-members an equal-sized sample of the test
split (equal sizes: 0.5 balanced accuracy is a coin flip). Attacks:
- mi_loss / mi_confidence: threshold on the per-sample loss / true-class log-probability,
  both in float64 (float32 losses of well-fit samples tie at exactly 0, which zeroes the
  TPR at low FPR);
- mi_gap: ART's rule-based attack ("member iff correctly classified"); its balanced
  accuracy is exactly 0.5 + (train_acc - test_acc) / 2;
- mi_blackbox: ART's trained attack model, fitted on one half, scored on the other;
- mi_label_only: the decision-boundary distance of ART's LabelOnlyDecisionBoundary (an
  untargeted HopSkipJump per sample, 0 when misclassified) as the membership score, on
  every sample: ART's `infer(probabilities=True)` is a sigmoid of that distance, so the
  ROC is the same, and skipping ART's calibration half doubles the samples scored.
Every record carries its sample sizes (`n_members`, `n_non_members`) and a 95% interval
for its AUC: a stratified percentile bootstrap (`stats.auc_interval`, 1000 resamples
under a seed derived from the audit's), so a figure from 20 samples shows its width.
Each attack is an `AttackSpec` record (the bottom of this file), its scoring in its
``measure``; the suite and its grade live in `privacy.suite`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.audit.core import randomness, stats
from dii_hpc.audit.model.protocols import LossModel, Predictor, Task
from dii_hpc.audit.specs import CLASSIFIERS, LABEL_TASKS, AttackSpec
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.core.data import Generator
    from dii_hpc.audit.specs import Call, Outcome

Scorer = Callable[..., tuple[np.ndarray, np.ndarray]]
Measure = Callable[..., tuple[dict[str, Any], list[int]]]

LABEL_ONLY_MAX = 500  # per side: ~90 HopSkipJump queries per sample is the costly part
LABEL_ONLY_HSJ = {"norm": 2, "max_iter": 3, "max_eval": 100, "init_eval": 10, "init_size": 20,
                  "batch_size": 128}


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


def run_attack(name: str, model: Predictor, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
               params: dict[str, Any] | None = None, seed: int = 0,
               generator: Generator | None = None) -> dict[str, Any]:
    """One membership attack (its record's ``measure``) -> attack record with metrics,
    intervals and the ROC.

    `generator` replaces `evasion.generate` for the label-only attack's HopSkipJump (MPI
    ranks shard it); every other ART call runs under `randomness.seeded`."""
    from dii_hpc.audit.specs import attack, check

    spec = attack(name)
    if "measure" not in spec.options:
        raise BadInput(f"attack {name} is no membership attack on (x, y, is_member)")
    check(spec, model)
    t0 = time.perf_counter()
    record, seeds = spec.options["measure"](name, model, x, y, is_member, dict(params or {}),
                                            seed, generator)
    record.update(name=name, params=dict(params or {}), time_s=time.perf_counter() - t0,
                  seeds=seeds)
    return record


def _scored(scorer: Scorer) -> Measure:
    """A threshold attack: ``scorer`` gives (who is scored, score) under a derived seed."""
    def measure(name: str, model: Predictor, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
                params: dict[str, Any], seed: int, generator: Generator | None
                ) -> tuple[dict[str, Any], list[int]]:
        call_seed = randomness.derive(seed, name)
        with randomness.seeded(call_seed):
            eval_member, score = scorer(model, x, y, is_member, params, seed)
        return _threshold_record(eval_member, score, call_seed), [call_seed]

    return measure


def _gap_measure(name: str, model: Predictor, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
                 params: dict[str, Any], seed: int, generator: Generator | None
                 ) -> tuple[dict[str, Any], list[int]]:
    call_seed = randomness.derive(seed, name)
    return _gap(model, x, y, is_member, call_seed), [call_seed]


def _label_only_measure(name: str, model: Predictor, x: np.ndarray, y: np.ndarray,
                        is_member: np.ndarray, params: dict[str, Any], seed: int,
                        generator: Generator | None) -> tuple[dict[str, Any], list[int]]:
    eval_member, score, seeds = _label_only_score(model, x, y, is_member, params, seed,
                                                  generator)
    return _threshold_record(eval_member, score, randomness.derive(seed, name)), seeds


def _loss_score(model: LossModel, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
                params: dict[str, Any], seed: int) -> tuple[np.ndarray, np.ndarray]:
    return is_member, -np.asarray(model.get_loss(x, y), dtype=np.float64)


def _confidence_score(model: Predictor, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
                      params: dict[str, Any], seed: int) -> tuple[np.ndarray, np.ndarray]:
    return is_member, true_class_log_prob(model.predict(x), y)


def _blackbox_score(model: Predictor, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
                    params: dict[str, Any], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit ART's attack model on one half of members/non-members, score the other half."""
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox

    from dii_hpc.audit.model.adapter import estimator_for

    # ART offers no random_state: its forest draws from numpy's global generator, which
    # run_attack's `randomness.seeded` fixes (a supplied attack_model changes ART's path).
    kw = {"attack_model_type": "rf", **params}
    if Task.parse(model.task).is_regression:
        kw.setdefault("input_type", "loss")
    try:
        attack = MembershipInferenceBlackBox(estimator_for(model), **kw)
    except (ValueError, TypeError) as err:
        raise BadInput(f"attack mi_blackbox: ART rejected the parameters: {err}") from err
    fit, held = halves(is_member, seed)
    m, o = fit & is_member, fit & ~is_member
    attack.fit(x[m], y[m], x[o], y[o])
    prob = attack.infer(x[held], y[held], probabilities=True)
    prob = np.asarray(prob, dtype=np.float64)
    return is_member[held], prob[:, -1] if prob.ndim == 2 else prob.reshape(-1)


def _label_only_score(model: Predictor, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
                      params: dict[str, Any], seed: int, generator: Any = None
                      ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """HopSkipJump boundary distance per sample (0 when misclassified), as ART's
    LabelOnlyDecisionBoundary measures it, on up to LABEL_ONLY_MAX samples per side."""
    from dii_hpc.audit.evasion import generate as evasion
    from dii_hpc.audit.model.adapter import estimator_for

    keep = _cap(is_member, LABEL_ONLY_MAX, seed)
    x, y, is_member = x[keep], y[keep], is_member[keep]
    # float64 queries reach the numpy adapter, which casts them (see evasion.run_named).
    attack = evasion.build("art.attacks.evasion.HopSkipJump", estimator_for(model, native=False),
                           {**LABEL_ONLY_HSJ, **params}, "mi_label_only")
    x_adv = (generator or evasion.generate)(attack, x, y, seed, "mi_label_only")
    distance = np.linalg.norm((x_adv.astype(np.float64) - x).reshape(len(x), -1), axis=1)
    distance[np.argmax(model.predict(x), axis=1) != y] = 0.0
    return is_member, distance, randomness.block_seeds(seed, "mi_label_only", len(x))


def _gap(model: Predictor, x: np.ndarray, y: np.ndarray, is_member: np.ndarray,
         seed: int) -> dict[str, Any]:
    """ART's rule-based attack; reports train/test accuracy so the identity can be checked."""
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBoxRuleBased

    from dii_hpc.audit.model.adapter import estimator_for

    guess = MembershipInferenceBlackBoxRuleBased(estimator_for(model)).infer(x, y).astype(bool)
    tpr, fpr = guess[is_member].mean(), guess[~is_member].mean()
    correct = np.argmax(model.predict(x), axis=1) == y
    metrics = {"balanced_accuracy": stats.balanced_accuracy(is_member, guess),
               "advantage": float(tpr - fpr), "tpr": float(tpr), "fpr": float(fpr),
               "train_accuracy": float(correct[is_member].mean()),
               "test_accuracy": float(correct[~is_member].mean()),
               "auc": stats.balanced_accuracy(is_member, guess)} | _sizes(is_member)
    # the AUC of a 0/1 score is its balanced accuracy: the bootstrap applies unchanged
    return {"metrics": metrics,
            "intervals": {"tpr": stats.rate_interval(guess[is_member]),
                          "fpr": stats.rate_interval(guess[~is_member]),
                          "auc": stats.auc_interval(is_member, guess.astype(float), seed)},
            "roc": {"fpr": [0.0, float(fpr), 1.0], "tpr": [0.0, float(tpr), 1.0],
                    "auc": metrics["auc"]}}


def _threshold_record(is_member: np.ndarray, score: np.ndarray, seed: int) -> dict[str, Any]:
    """AUC with its bootstrap interval, the best threshold's TPR/FPR/advantage and the
    low-FPR TPRs from scores (higher = member)."""
    roc = stats.roc_summary(is_member, score)
    fpr, tpr = np.asarray(roc["fpr"]), np.asarray(roc["tpr"])
    adv = float((tpr - fpr).max()) if len(fpr) else 0.0
    k = int(np.argmax(tpr - fpr)) if len(fpr) else 0
    n_in, n_out = int(is_member.sum()), int((~is_member).sum())
    metrics = {"auc": roc["auc"], "advantage": adv, "balanced_accuracy": 0.5 + adv / 2,
               "tpr": float(tpr[k]), "fpr": float(fpr[k]),
               "tpr_at_1pct_fpr": roc["tpr_at_1pct_fpr"],
               "tpr_at_0.1pct_fpr": roc["tpr_at_0.1pct_fpr"]} | _sizes(is_member)
    intervals = {"auc": stats.auc_interval(is_member, score, seed),
                 "tpr": stats.clopper_pearson(round(tpr[k] * n_in), n_in),
                 "fpr": stats.clopper_pearson(round(fpr[k] * n_out), n_out)}
    return {"metrics": metrics, "intervals": intervals,
            "roc": {"fpr": roc["fpr"], "tpr": roc["tpr"], "auc": roc["auc"]}}


def _sizes(is_member: np.ndarray) -> dict[str, int]:
    return {"n_members": int(is_member.sum()), "n_non_members": int((~is_member).sum())}


def halves(is_member: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
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


def true_class_log_prob(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log softmax(z)[y] in float64 without saturating: -log(1 + sum_j!=y e^(z_j - z_y)).

    The probability itself rounds to 1.0 for confident samples, which ties them all."""
    from scipy.special import logsumexp

    z = np.asarray(z, dtype=np.float64)
    rows = np.arange(len(y))
    others = z - z[rows, y][:, None]
    others[rows, y] = -np.inf
    return -np.logaddexp(0.0, logsumexp(others, axis=1))


# ---- the records -----------------------------------------------------------------------------
def run_membership(spec: AttackSpec, call: Call) -> Outcome:
    """Level II (and suite shard) run: up to ``n_samples`` members and as many non-members
    (default: the evaluation sample's size), the ROC as the result's curve."""
    from dii_hpc.audit.model.validate import pop_number
    from dii_hpc.audit.specs import Outcome

    params = dict(call.params)
    n_each = pop_number(params, "n_samples", len(call.prep.x), spec.name, int)
    x, y, member = membership_sets(call.prep.train, call.prep.test, n_each, call.seed)
    record = run_attack(spec.name, call.model, x, y, member, params, call.seed, call.generator)
    return Outcome(record, len(x), curves={"roc": record.pop("roc")})


def _mi(name: str, tasks: tuple[str, ...], measure: Measure, doc: str,
        splits: bool = False) -> AttackSpec:
    return AttackSpec(name, "privacy", "art", tasks, LossModel, run_membership, doc,
                      splits=splits, options={"measure": measure})


MI_LOSS = _mi("mi_loss", LABEL_TASKS, _scored(_loss_score),
              "loss threshold (higher score = lower loss = member)")
MI_CONFIDENCE = _mi("mi_confidence", CLASSIFIERS, _scored(_confidence_score),
                    "true-class confidence threshold")
MI_GAP = _mi("mi_gap", CLASSIFIERS, _gap_measure,
             "rule-based gap attack: member iff correctly classified (ART)")
MI_BLACKBOX = _mi("mi_blackbox", LABEL_TASKS, _scored(_blackbox_score),
                  "trained black-box attack model on predictions + labels (ART)")
MI_LABEL_ONLY = _mi("mi_label_only", CLASSIFIERS, _label_only_measure,
                    "label-only decision-boundary distance (ART, HopSkipJump); cost: about 90 "
                    "model queries per sample, on up to 500 members + 500 non-members",
                    splits=True)
