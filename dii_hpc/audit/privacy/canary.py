"""`dp_canary`: a lower bound on the trainer's differential privacy from inserted canaries,
in one training run (Steinke, Nasr & Jagielski 2023, "Privacy Auditing with One (1)
Training Run").

m canaries (held-out records given a wrong label drawn at random: mislabelled records are
the ones a model memorises) are each inserted with probability 1/2 into the training data,
and the user's own trainer trains once on train data + inserted canaries (a one-model
`reference_models` plan, so it is cached and can run as a Slurm task like any reference
model). The auditor scores each canary by the trained model's log-probability of its wrong
label, guesses "in" for the r/2 highest and "out" for the r/2 lowest, abstains on the rest,
and counts v correct guesses out of r. Under (eps, delta)-DP, v exceeds a Binomial(r,
e^eps / (1 + e^eps)) tail by at most the delta term of the paper's Theorem (the p-value
below is their Algorithm's); `epsilon_lower_bound` is the largest eps this count rejects at
the stated confidence: the trainer is *not* (eps, delta)-DP for any smaller eps. A DP
trainer certified below the bound has a bug in its accounting or its implementation; a
model trained without DP shows a large bound. The bound is on the training *recipe*
(`fit`), not on the audited weights.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dii_hpc.audit.core import randomness, stats
from dii_hpc.audit.privacy.reference import models as reference_models
from dii_hpc.audit.privacy.reference import rmia
from dii_hpc.errors import BadInput

EPS_MAX = 100.0  # beyond this the search stops: the count rules out every smaller eps


def p_value(m: int, r: int, v: int, eps: float, delta: float) -> float:
    """Probability of >= v correct of r guesses on m canaries under (eps, delta)-DP."""
    from scipy.stats import binom

    q = 1.0 / (1.0 + math.exp(-eps))  # the accuracy of eps-DP randomised response
    beta = float(binom.sf(v - 1, r, q))  # P[Binomial(r, q) >= v]
    alpha = 0.0
    if v > 0:  # max over i of P[v - i <= Binomial(r, q) < v] / i
        tails = np.cumsum(binom.pmf(np.arange(v - 1, -1, -1), r, q))
        alpha = float(np.max(tails / np.arange(1, v + 1)))
    return min(beta + alpha * delta * 2 * m, 1.0)


def epsilon_lower_bound(m: int, r: int, v: int, delta: float, confidence: float = 0.95,
                        iterations: int = 60) -> float:
    """The largest eps whose p-value stays below 1 - confidence (0 when none does)."""
    level = 1.0 - confidence
    if p_value(m, r, v, 0.0, delta) >= level:
        return 0.0
    lo, hi = 0.0, 1.0
    while hi < EPS_MAX and p_value(m, r, v, hi, delta) < level:
        lo, hi = hi, hi * 2
    for _ in range(iterations):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if p_value(m, r, v, mid, delta) < level else (lo, mid)
    return lo


def canaries(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
             n_classes: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, inserted) of train data + m mislabelled held-out canaries; `inserted` marks
    the records the one run trains on (all train data, each canary with probability 1/2)."""
    if n_classes < 2:
        raise BadInput("attack dp_canary needs a classifier with at least 2 classes")
    rng = np.random.default_rng(randomness.derive(seed, "dp_canary-canaries"))
    pick = np.sort(rng.permutation(len(test[0]))[:m])
    wrong = (np.asarray(test[1][pick], np.int64) + rng.integers(1, n_classes, len(pick))) % n_classes
    x = np.concatenate([train[0], test[0][pick]])
    y = np.concatenate([np.asarray(train[1], np.int64), wrong])
    inserted = np.r_[np.ones(len(train[0]), bool), rng.random(len(pick)) < 0.5]
    return x, y, inserted


def plan(model_spec: Any, train: tuple[np.ndarray, np.ndarray],
         test: tuple[np.ndarray, np.ndarray], n_classes: int, m: int, seed: int
         ) -> reference_models.Plan:
    x, y, inserted = canaries(train, test, n_classes, m, seed)
    return reference_models.plan(x, y, inserted[None, :],
                                 reference_models.trainer_identity(model_spec), seed, "canaries")


def record(p: reference_models.Plan, n_train: int, params: dict[str, Any],
           seed: int) -> dict[str, Any]:
    """The canary audit's record from the trained run's outputs."""
    inserted = p.keep[0, n_train:]
    score = rmia.log_prob(p.outputs()[0, n_train:], p.y[n_train:])
    m = len(score)
    r = min(int(params["n_guesses"]) or max(2, m // 5), m)
    order = np.argsort(-score, kind="stable")
    guess_in, guess_out = order[: (r + 1) // 2], order[m - r // 2:] if r // 2 else order[:0]
    v = int(inserted[guess_in].sum() + (~inserted[guess_out]).sum())
    delta, confidence = float(params["delta"]), float(params["confidence"])
    eps = epsilon_lower_bound(m, r, v, delta, confidence)
    call_seed = randomness.derive(seed, "dp_canary")
    roc = stats.log_roc(inserted, score)
    metrics = {"epsilon_lower_bound": eps, "delta": delta, "confidence": confidence,
               "n_canaries": m, "n_inserted": int(inserted.sum()), "n_guesses": r,
               "correct_guesses": v, "guess_accuracy": v / r if r else 0.0, "auc": roc["auc"],
               "n_members": int(inserted.sum()), "n_non_members": int((~inserted).sum())}
    intervals = {"auc": stats.auc_interval(inserted, score, call_seed),
                 "guess_accuracy": stats.clopper_pearson(v, r)}
    return {"name": "dp_canary", "params": params, "metrics": metrics, "intervals": intervals,
            "roc": roc, "seeds": [call_seed, *p.seeds],
            "reference_models": {"n": 1, "folder": str(p.root), "keys": list(p.keys)}}


def summary(rec: dict[str, Any]) -> str:
    m = rec["metrics"]
    return (f"dp_canary: {m['correct_guesses']} of {m['n_guesses']} guesses right on "
            f"{m['n_canaries']} canaries: the trainer is not ({m['epsilon_lower_bound']:.3g}, "
            f"{m['delta']:g})-DP for any smaller epsilon ({m['confidence']:.0%} confidence).")
