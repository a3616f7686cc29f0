"""Poisoning: backdoor injection with retraining, poisoned-sample detection, label flips.

The model is retrained through its own `fit` (a copy: the audited model is left as is).
Triggers, per task: a bright 3x3 checker patch in the bottom-right corner (images), a
sawtooth over the last 10% of the series (time series), the first 3 features set to the
top of their range (tabular). Poisoned samples are taken from non-target classes,
triggered and relabelled to `target` (ART's PoisoningAttackBackdoor does the stamping).
Clean-accuracy loss is measured against the audited model, and so is the trigger's own
effect: the clean model's rate on the same triggered inputs (`baseline_attack_success_rate`)
is subtracted from the success rate (`attack_success_lift`, which the grade uses). Detection
scores ART's ActivationDefence and SpectralSignatureDefense against the known poison mask.
Every retraining and ART call runs under a seed derived from the audit's (`randomness`).
Each attack is an `AttackSpec` record (`poisoning.catalogue`); the level I suite, shard by
shard, is `poisoning.suite`.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np

from dii_hpc.audit.core import randomness, stats
from dii_hpc.audit.model.protocols import (
    ActivationModel,
    GradientRetrainableModel,
    Predictor,
    RetrainableModel,
    Task,
    classes,
    require,
)
from dii_hpc.errors import BadInput

FLIP_FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4)


def trigger_for(model: Predictor) -> Any:
    """The stamping function for the model's task, scaled to its value range."""
    lo, hi = model.clip_values
    task = Task.parse(model.task)

    def image(x: np.ndarray) -> np.ndarray:
        x = np.array(x, copy=True)
        patch = np.array([[hi, lo, hi], [lo, hi, lo], [hi, lo, hi]], dtype=x.dtype)
        x[..., -3:, -3:] = patch
        return x

    def series(x: np.ndarray) -> np.ndarray:
        x = np.array(x, copy=True)
        k = max(3, x.shape[-1] // 10)
        saw = lo + (hi - lo) * (np.arange(k) % 3) / 2.0
        x[..., -k:] = np.clip(saw, lo, hi).astype(x.dtype)
        return x

    def tabular(x: np.ndarray) -> np.ndarray:
        x = np.array(x, copy=True)
        x[..., :3] = hi
        return x

    return {Task.IMAGE_CLASSIFICATION: image, Task.TIMESERIES_CLASSIFICATION: series,
            Task.TABULAR_CLASSIFICATION: tabular}.get(task)


def poison(model: Predictor, x: np.ndarray, y: np.ndarray, fraction: float, target: int,
           seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x_poisoned, y_poisoned, is_poison) with `fraction` of the set stamped + relabelled."""
    from art.attacks.poisoning import PoisoningAttackBackdoor

    if not 0 < fraction < 1:
        raise BadInput(f"poisoning fraction={fraction} must be in (0, 1)")
    rng = np.random.default_rng(seed)
    candidates = np.flatnonzero(y != target)
    k = min(len(candidates), int(round(fraction * len(x))))
    idx = rng.choice(candidates, size=k, replace=False)
    attack = PoisoningAttackBackdoor(trigger_for(model))
    onehot = np.eye(classes(model))[np.full(k, target)]
    xp, yp = attack.poison(x[idx], y=onehot)
    x_out, y_out = x.copy(), y.copy()
    x_out[idx], y_out[idx] = xp.astype(x.dtype), np.argmax(yp, axis=1)
    mask = np.zeros(len(x), bool)
    mask[idx] = True
    return x_out, y_out, mask


def check(model: Predictor, name: str, needs: type[Any]) -> Task:
    task = Task.parse(model.task)
    if not task.is_classification or trigger_for(model) is None:
        raise BadInput(f"attack {name} supports image, time-series and tabular classification, "
                       f"not {task.value}")
    require(model, needs, f"attack {name}")
    return task


def backdoor(model: RetrainableModel, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
             fraction: float = 0.1, target: int = 0, seed: int = 0) -> tuple[dict[str, Any], Any]:
    """Retrain on a poisoned copy; (record, poisoned model) with clean acc and success rate."""
    check(model, "backdoor", RetrainableModel)
    t0 = time.perf_counter()
    xp, yp, _ = poison(model, *train, fraction, target, seed)
    victim, fit_seed = _retrain(model, xp, yp, seed, "backdoor", fraction)
    metrics, intervals = _backdoor_metrics(model, victim, test, target)
    record = {"name": "backdoor", "params": {"fraction": fraction, "target": target, "seed": seed},
              "metrics": {"fraction": fraction, **metrics}, "time_s": time.perf_counter() - t0,
              "intervals": intervals, "seeds": [fit_seed]}
    return record, victim


def _retrain(model: RetrainableModel, x: np.ndarray, y: np.ndarray, seed: int,
             *keys: str | float) -> tuple[Any, int]:
    """A retrained copy (the audited model is left as is); a `fit` that draws from the
    global generators (shuffling, initialisation) draws under a seed derived from `keys`."""
    fit_seed = randomness.derive(seed, *keys)
    victim = copy.deepcopy(model)
    with randomness.seeded(fit_seed):
        victim.fit(x, y)
    return victim, fit_seed


def _backdoor_metrics(model: Predictor, victim: Any, test: tuple[np.ndarray, np.ndarray],
                      target: int) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Clean accuracy of both models and the success on triggered non-target test inputs,
    beside the *clean* model's rate on the same inputs: the trigger's own effect, which
    the poisoning cannot take credit for (`attack_success_lift` is the difference)."""
    x_te, y_te = test
    base_ok = np.argmax(model.predict(x_te), 1) == y_te
    clean_ok = np.argmax(victim.predict(x_te), 1) == y_te
    triggered = trigger_for(model)(x_te[y_te != target])
    base_hit = np.argmax(model.predict(triggered), 1) == target
    hit = np.argmax(victim.predict(triggered), 1) == target
    metrics = {"baseline_clean_accuracy": float(base_ok.mean()),
               "clean_accuracy": float(clean_ok.mean()),
               "clean_accuracy_drop": float(base_ok.mean() - clean_ok.mean()),
               "attack_success_rate": float(hit.mean()),
               "baseline_attack_success_rate": float(base_hit.mean()),
               "attack_success_lift": float(hit.mean() - base_hit.mean())}
    intervals = {"clean_accuracy": stats.rate_interval(clean_ok),
                 "attack_success_rate": stats.rate_interval(hit),
                 "baseline_attack_success_rate": stats.rate_interval(base_hit)}
    return metrics, intervals


def clean_label(model: RetrainableModel, train: tuple[np.ndarray, np.ndarray],
                test: tuple[np.ndarray, np.ndarray], fraction: float = 0.5, target: int = 0,
                seed: int = 0, eps: float | None = None) -> dict[str, Any]:
    """ART's clean-label backdoor: `fraction` of the target class is made hard to classify
    (PGD with the audited model as proxy) and stamped; labels stay correct; retrain."""
    from art.attacks.poisoning import PoisoningAttackBackdoor, PoisoningAttackCleanLabelBackdoor

    from dii_hpc.audit.model.adapter import estimator_for

    task = check(model, "clean_label_backdoor", GradientRetrainableModel)
    if task is not Task.IMAGE_CLASSIFICATION:
        raise BadInput(f"attack clean_label_backdoor works on images, not {task.value}")
    t0 = time.perf_counter()
    span = float(model.clip_values[1] - model.clip_values[0])
    eps = 0.2 * span if eps is None else float(eps)
    n_cls = classes(model)
    poison_seed = randomness.derive(seed, "clean_label_backdoor", fraction)
    try:
        attack = PoisoningAttackCleanLabelBackdoor(
            PoisoningAttackBackdoor(trigger_for(model)), estimator_for(model),
            target=np.eye(n_cls)[target], pp_poison=fraction, norm=np.inf, eps=eps,
            eps_step=eps / 4, max_iter=20)
        with randomness.seeded(poison_seed):  # ART picks the samples and PGD starts
            xp, _ = attack.poison(train[0], np.eye(n_cls)[train[1]])
    except (ValueError, TypeError) as err:
        raise BadInput(f"attack clean_label_backdoor: ART rejected the parameters: {err}") from err
    victim, fit_seed = _retrain(model, xp.astype(np.float32), train[1], seed,
                                "clean_label_backdoor", "fit", fraction)
    metrics, intervals = _backdoor_metrics(model, victim, test, target)
    changed = int(np.any((xp != train[0]).reshape(len(xp), -1), axis=1).sum())
    return {"name": "clean_label_backdoor",
            "params": {"fraction": fraction, "target": target, "seed": seed, "eps": eps},
            "metrics": {"poisoned": changed, **metrics}, "intervals": intervals,
            "time_s": time.perf_counter() - t0, "seeds": [poison_seed, fit_seed]}


def detect(name: str, model: RetrainableModel, train: tuple[np.ndarray, np.ndarray], fraction: float = 0.1,
           target: int = 0, seed: int = 0, victim: Any = None,
           params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Poison the set, retrain (unless `victim` given), run ART's detector, score it."""
    from dii_hpc.audit.model.adapter import estimator_for
    from dii_hpc.audit.specs import attack

    check(model, name, ActivationModel)
    t0 = time.perf_counter()
    xp, yp, is_poison = poison(model, *train, fraction, target, seed)
    if victim is None:  # the same retrained model as `backdoor` at this fraction
        victim = _retrain(model, xp, yp, seed, "backdoor", fraction)[0]
    est = estimator_for(victim, native=False)
    onehot = np.eye(classes(model))[yp]
    kw = dict(params or {})
    call_seed = randomness.derive(seed, name, fraction)
    detector = attack(name).options["detector"]
    try:
        with randomness.seeded(call_seed):
            kw, is_clean = detector(est, xp, onehot, call_seed, fraction, kw)
    except (ValueError, TypeError) as err:
        raise BadInput(f"attack {name}: ART rejected the parameters: {err}") from err
    flagged = np.asarray(is_clean) == 0
    tp = int((flagged & is_poison).sum())
    metrics = {"fraction": fraction, "precision": tp / max(int(flagged.sum()), 1),
               "recall": tp / max(int(is_poison.sum()), 1),
               "flagged": int(flagged.sum()), "poisoned": int(is_poison.sum())}
    return {"name": name, "params": {"fraction": fraction, "target": target, "seed": seed,
                                     **{k: v for k, v in kw.items() if np.isscalar(v)}},
            "metrics": metrics, "time_s": time.perf_counter() - t0, "seeds": [call_seed],
            "intervals": {"recall": stats.rate_interval(flagged[is_poison]),
                          "precision": stats.rate_interval(is_poison[flagged])}}


def activation_defence(est: Any, x: np.ndarray, onehot: np.ndarray, seed: int,
                        fraction: float, kw: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """ART's ActivationDefence with its MiniBatchKMeans seeded (ART leaves random_state
    None); `detect_poison` keeps this clusterer while nb_clusters stays 2."""
    from art.defences.detector.poison import ActivationDefence
    from sklearn.cluster import MiniBatchKMeans

    defence = ActivationDefence(est, x, onehot)
    defence.nb_clusters = 2
    defence.clusterer = MiniBatchKMeans(n_clusters=2, random_state=seed)
    kw = {"nb_clusters": 2, "nb_dims": 10, "reduce": "PCA", **kw}
    return kw, defence.detect_poison(**kw)[1]


def spectral_signature(est: Any, x: np.ndarray, onehot: np.ndarray, seed: int,
                        fraction: float, kw: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    from art.defences.detector.poison import SpectralSignatureDefense

    kw = {"batch_size": 128, "eps_multiplier": 1.5, "expected_pp_poison": fraction, **kw}
    return kw, SpectralSignatureDefense(est, x, onehot, **kw).detect_poison()[1]


def label_flip(model: RetrainableModel, train: tuple[np.ndarray, np.ndarray],
               test: tuple[np.ndarray, np.ndarray], fractions: tuple[float, ...] = FLIP_FRACTIONS,
               seed: int = 0) -> dict[str, Any]:
    """Clean test accuracy after retraining with a growing share of flipped labels."""
    check(model, "label_flip", RetrainableModel)
    t0 = time.perf_counter()
    x, y = train
    n_cls, rng = classes(model), np.random.default_rng(seed)
    curve, seeds = [], []
    for frac in fractions:
        yf = y.copy()
        idx = rng.choice(len(y), size=int(round(frac * len(y))), replace=False)
        yf[idx] = (yf[idx] + rng.integers(1, n_cls, size=len(idx))) % n_cls
        victim, fit_seed = _retrain(model, x, yf, seed, "label_flip", float(frac))
        seeds.append(fit_seed)
        acc = float((np.argmax(victim.predict(test[0]), 1) == test[1]).mean())
        curve.append({"fraction": float(frac), "clean_accuracy": acc})
    drop = curve[0]["clean_accuracy"] - curve[-1]["clean_accuracy"]
    return {"name": "label_flip", "params": {"fractions": list(fractions), "seed": seed},
            "metrics": {"clean_accuracy": curve[0]["clean_accuracy"],
                        "accuracy_drop_at_max_flip": drop},
            "curve": curve, "time_s": time.perf_counter() - t0, "intervals": {}, "seeds": seeds}
