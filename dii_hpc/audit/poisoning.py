"""Poisoning: backdoor injection with retraining, poisoned-sample detection, label flips.

The model is retrained through its own `fit` (a copy: the audited model is left as is).
Triggers, per task: a bright 3x3 checker patch in the bottom-right corner (images), a
sawtooth over the last 10% of the series (time series), the first 3 features set to the
top of their range (tabular). Poisoned samples are taken from non-target classes,
triggered and relabelled to `target` (ART's PoisoningAttackBackdoor does the stamping).
Clean-accuracy loss is measured against the audited model; detection scores ART's
ActivationDefence and SpectralSignatureDefense against the known poison mask.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np

from dii_hpc import progress
from dii_hpc.audit import stats
from dii_hpc.audit.protocols import Task, require
from dii_hpc.errors import BadInput

ATTACKS = {
    "backdoor": "trigger + relabel a fraction of the training set, retrain, measure success",
    "activation_defence": "ART ActivationDefence on a backdoored training set",
    "spectral_signature": "ART SpectralSignatureDefense on a backdoored training set",
    "label_flip": "accuracy after retraining on 0-40% flipped labels (tabular)",
    "clean_label_backdoor": "ART clean-label backdoor: PGD-hardened target-class images "
                            "+ trigger, labels untouched (images)",
}
SUITE_FRACTIONS = (0.01, 0.05, 0.1)
FLIP_FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4)


def trigger_for(model: Any) -> Any:
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


def poison(model: Any, x: np.ndarray, y: np.ndarray, fraction: float, target: int,
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
    onehot = np.eye(int(model.nb_classes))[np.full(k, target)]
    xp, yp = attack.poison(x[idx], y=onehot)
    x_out, y_out = x.copy(), y.copy()
    x_out[idx], y_out[idx] = xp.astype(x.dtype), np.argmax(yp, axis=1)
    mask = np.zeros(len(x), bool)
    mask[idx] = True
    return x_out, y_out, mask


def _check(model: Any, name: str, needs: tuple[str, ...]) -> Task:
    task = Task.parse(model.task)
    if not task.is_classification or trigger_for(model) is None:
        raise BadInput(f"attack {name} supports image, time-series and tabular classification, "
                       f"not {task.value}")
    require(model, needs, f"attack {name}")
    return task


def backdoor(model: Any, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
             fraction: float = 0.1, target: int = 0, seed: int = 0) -> tuple[dict[str, Any], Any]:
    """Retrain on a poisoned copy; (record, poisoned model) with clean acc and success rate."""
    _check(model, "backdoor", ("predict", "fit"))
    t0 = time.perf_counter()
    xp, yp, _ = poison(model, *train, fraction, target, seed)
    victim = copy.deepcopy(model)
    victim.fit(xp, yp)
    x_te, y_te = test
    base_ok = np.argmax(model.predict(x_te), 1) == y_te
    clean_ok = np.argmax(victim.predict(x_te), 1) == y_te
    others = y_te != target
    hit = np.argmax(victim.predict(trigger_for(model)(x_te[others])), 1) == target
    metrics = {"fraction": fraction, "baseline_clean_accuracy": float(base_ok.mean()),
               "clean_accuracy": float(clean_ok.mean()),
               "clean_accuracy_drop": float(base_ok.mean() - clean_ok.mean()),
               "attack_success_rate": float(hit.mean())}
    record = {"name": "backdoor", "params": {"fraction": fraction, "target": target, "seed": seed},
              "metrics": metrics, "time_s": time.perf_counter() - t0,
              "intervals": {"clean_accuracy": stats.rate_interval(clean_ok),
                            "attack_success_rate": stats.rate_interval(hit)}}
    return record, victim


def clean_label(model: Any, train: tuple[np.ndarray, np.ndarray],
                test: tuple[np.ndarray, np.ndarray], fraction: float = 0.5, target: int = 0,
                seed: int = 0, eps: float | None = None) -> dict[str, Any]:
    """ART's clean-label backdoor: `fraction` of the target class is made hard to classify
    (PGD with the audited model as proxy) and stamped; labels stay correct; retrain."""
    from art.attacks.poisoning import PoisoningAttackBackdoor, PoisoningAttackCleanLabelBackdoor

    from dii_hpc.audit.adapter import estimator_for
    from dii_hpc.audit.evasion import seed_all

    task = _check(model, "clean_label_backdoor", ("predict", "fit", "get_grad"))
    if task is not Task.IMAGE_CLASSIFICATION:
        raise BadInput(f"attack clean_label_backdoor works on images, not {task.value}")
    t0 = time.perf_counter()
    span = float(model.clip_values[1] - model.clip_values[0])
    eps = 0.2 * span if eps is None else float(eps)
    n_cls = int(model.nb_classes)
    seed_all(seed)
    try:
        attack = PoisoningAttackCleanLabelBackdoor(
            PoisoningAttackBackdoor(trigger_for(model)), estimator_for(model),
            target=np.eye(n_cls)[target], pp_poison=fraction, norm=np.inf, eps=eps,
            eps_step=eps / 4, max_iter=20)
        xp, _ = attack.poison(train[0], np.eye(n_cls)[train[1]])
    except (ValueError, TypeError) as err:
        raise BadInput(f"attack clean_label_backdoor: ART rejected the parameters: {err}") from err
    victim = copy.deepcopy(model)
    victim.fit(xp.astype(np.float32), train[1])
    x_te, y_te = test
    base_ok = np.argmax(model.predict(x_te), 1) == y_te
    clean_ok = np.argmax(victim.predict(x_te), 1) == y_te
    others = y_te != target
    hit = np.argmax(victim.predict(trigger_for(model)(x_te[others])), 1) == target
    changed = int(np.any((xp != train[0]).reshape(len(xp), -1), axis=1).sum())
    return {"name": "clean_label_backdoor",
            "params": {"fraction": fraction, "target": target, "seed": seed, "eps": eps},
            "metrics": {"poisoned": changed, "baseline_clean_accuracy": float(base_ok.mean()),
                        "clean_accuracy": float(clean_ok.mean()),
                        "clean_accuracy_drop": float(base_ok.mean() - clean_ok.mean()),
                        "attack_success_rate": float(hit.mean())},
            "intervals": {"attack_success_rate": stats.rate_interval(hit)},
            "time_s": time.perf_counter() - t0}


def detect(name: str, model: Any, train: tuple[np.ndarray, np.ndarray], fraction: float = 0.1,
           target: int = 0, seed: int = 0, victim: Any = None,
           params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Poison the set, retrain (unless `victim` given), run ART's detector, score it."""
    from art.defences.detector.poison import ActivationDefence, SpectralSignatureDefense

    from dii_hpc.audit.adapter import estimator_for

    _check(model, name, ("predict", "fit", "get_activations"))
    t0 = time.perf_counter()
    xp, yp, is_poison = poison(model, *train, fraction, target, seed)
    if victim is None:
        victim = copy.deepcopy(model)
        victim.fit(xp, yp)
    est = estimator_for(victim, native=False)
    onehot = np.eye(int(model.nb_classes))[yp]
    kw = dict(params or {})
    try:
        if name == "activation_defence":
            kw = {"nb_clusters": 2, "nb_dims": 10, "reduce": "PCA", **kw}
            _, is_clean = ActivationDefence(est, xp, onehot).detect_poison(**kw)
        else:
            kw = {"batch_size": 128, "eps_multiplier": 1.5, "expected_pp_poison": fraction, **kw}
            _, is_clean = SpectralSignatureDefense(est, xp, onehot, **kw).detect_poison()
    except (ValueError, TypeError) as err:
        raise BadInput(f"attack {name}: ART rejected the parameters: {err}") from err
    flagged = np.asarray(is_clean) == 0
    tp = int((flagged & is_poison).sum())
    metrics = {"fraction": fraction, "precision": tp / max(int(flagged.sum()), 1),
               "recall": tp / max(int(is_poison.sum()), 1),
               "flagged": int(flagged.sum()), "poisoned": int(is_poison.sum())}
    return {"name": name, "params": {"fraction": fraction, "target": target, "seed": seed,
                                     **{k: v for k, v in kw.items() if np.isscalar(v)}},
            "metrics": metrics, "time_s": time.perf_counter() - t0,
            "intervals": {"recall": stats.rate_interval(flagged[is_poison]),
                          "precision": stats.rate_interval(is_poison[flagged])}}


def label_flip(model: Any, train: tuple[np.ndarray, np.ndarray],
               test: tuple[np.ndarray, np.ndarray], fractions: tuple[float, ...] = FLIP_FRACTIONS,
               seed: int = 0) -> dict[str, Any]:
    """Clean test accuracy after retraining with a growing share of flipped labels."""
    _check(model, "label_flip", ("predict", "fit"))
    t0 = time.perf_counter()
    x, y = train
    n_cls, rng = int(model.nb_classes), np.random.default_rng(seed)
    curve = []
    for frac in fractions:
        yf = y.copy()
        idx = rng.choice(len(y), size=int(round(frac * len(y))), replace=False)
        yf[idx] = (yf[idx] + rng.integers(1, n_cls, size=len(idx))) % n_cls
        victim = copy.deepcopy(model)
        victim.fit(x, yf)
        acc = float((np.argmax(victim.predict(test[0]), 1) == test[1]).mean())
        curve.append({"fraction": float(frac), "clean_accuracy": acc})
    drop = curve[0]["clean_accuracy"] - curve[-1]["clean_accuracy"]
    return {"name": "label_flip", "params": {"fractions": list(fractions), "seed": seed},
            "metrics": {"clean_accuracy": curve[0]["clean_accuracy"],
                        "accuracy_drop_at_max_flip": drop},
            "curve": curve, "time_s": time.perf_counter() - t0, "intervals": {}}


def run_suite(model: Any, train: tuple[np.ndarray, np.ndarray],
              test: tuple[np.ndarray, np.ndarray], *, target: int = 0,
              seed: int = 0, fractions: tuple[float, ...] = SUITE_FRACTIONS) -> dict[str, Any]:
    """Level I poisoning: backdoor at each fraction, both detectors at the largest one,
    and (tabular) the label-flip curve. Grade: success rate at the smallest fraction."""
    task = _check(model, "poisoning suite", ("predict", "fit"))
    records, victim = [], None
    detectors = ("activation_defence", "spectral_signature") \
        if callable(getattr(model, "get_activations", None)) else ()
    steps = len(fractions) + len(detectors) + (task is Task.TABULAR_CLASSIFICATION)
    with progress.bar("poisoning suite: attacks", steps) as bar:
        for frac in fractions:
            record, victim = backdoor(model, train, test, frac, target, seed)
            records.append(record)
            bar.advance()
        for name in detectors:
            records.append(detect(name, model, train, fractions[-1], target, seed, victim))
            bar.advance()
        flip = label_flip(model, train, test, seed=seed) \
            if task is Task.TABULAR_CLASSIFICATION else None
    curves: dict[str, Any] = {"backdoor": [{"fraction": r["metrics"]["fraction"],
                                            "attack_success_rate": r["metrics"]["attack_success_rate"],
                                            "clean_accuracy": r["metrics"]["clean_accuracy"]}
                                           for r in records if r["name"] == "backdoor"]}
    if flip is not None:
        records.append(flip)
        curves["label_flip"] = flip["curve"]
    first, last = curves["backdoor"][0], records[len(fractions) - 1]["metrics"]
    letter = stats.grade("poisoning", first["attack_success_rate"])
    metrics = {"attack_success_rate": first["attack_success_rate"],
               "attack_success_rate_max_fraction": last["attack_success_rate"],
               "clean_accuracy": last["baseline_clean_accuracy"],
               "max_clean_accuracy_drop": max(r["metrics"]["clean_accuracy_drop"]
                                              for r in records if r["name"] == "backdoor")}
    return {"task": task.value, "suite": "poisoning", "grade": letter,
            "summary": f"A backdoor in {first['fraction']:.0%} of the training set succeeds on "
                       f"{first['attack_success_rate']:.1%} of triggered inputs "
                       f"({last['attack_success_rate']:.1%} at {fractions[-1]:.0%}; grade {letter}).",
            "metrics": metrics, "attacks": records, "curves": curves, "sanity": [],
            "examples": [], "n_samples": int(len(train[0]))}
