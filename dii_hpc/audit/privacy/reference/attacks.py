"""The attacks that need reference models: LiRA, RMIA (level II, and in the level I privacy
suite when the model has `fit`) and the DP canary audit; their parameters, their records,
(their reference models are trained before the job computes: `reference_training`).

Audited records are those of the loss attack (`privacy.membership_sets`: up to n members
of the train split and as many non-members of the held-out split, seeded), and the loss
attack on them rides along as the baseline, so "LiRA beats a global loss threshold" is
read off one record. Each record carries AUC with its bootstrap interval, TPR at 1%, 0.1%
and 0% FPR with Clopper-Pearson intervals (and the FPR reached there), the ROC thinned on
a log grid (the audit page draws it on log-log axes) and the most exposed members
(index in the train data, score, class): who is at risk, not only how many.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.audit.core import randomness, stats
from dii_hpc.audit.model.protocols import Task, require
from dii_hpc.audit.privacy import canary
from dii_hpc.audit.privacy import membership as privacy
from dii_hpc.audit.privacy.reference import lira, rmia
from dii_hpc.audit.privacy.reference import models as reference_models
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.job import AuditJob

NAMES = privacy.REFERENCE_ATTACKS
SUITE = ("lira", "rmia")
N_REFERENCE = 16
DEFAULTS: dict[str, dict[str, Any]] = {
    "lira": {"n_reference": N_REFERENCE, "mode": "online", "variance": "auto", "top_k": 10},
    "rmia": {"n_reference": N_REFERENCE, "mode": "online", "offline_a": rmia.DEFAULT_OFFLINE_A,
             "gamma": 1.0, "top_k": 10},
    "dp_canary": {"n_canaries": 0, "n_guesses": 0, "delta": 1e-5, "confidence": 0.95},
}
CHOICES = {"mode": lira.MODES, "variance": lira.VARIANCES}
MAX_CANARIES = 500


def check_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every value checked, before any model is built."""
    unknown = sorted(set(params) - set(DEFAULTS[name]) - {"n_samples"})
    if unknown:
        raise BadInput(f"attack {name}: unknown parameter(s) {', '.join(unknown)}; known: "
                       f"{', '.join(DEFAULTS[name])}, n_samples")
    out = {**DEFAULTS[name], **{k: v for k, v in params.items() if k != "n_samples"}}
    for key, value in out.items():
        if key in CHOICES:
            if value not in CHOICES[key]:
                raise BadInput(f"attack {name}: {key}={value!r} must be one of "
                               f"{', '.join(CHOICES[key])}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadInput(f"attack {name}: {key}={value!r} must be a number")
    if "n_reference" in out and (out["n_reference"] != int(out["n_reference"])
                                 or out["n_reference"] < 2):
        raise BadInput(f"attack {name}: n_reference={out['n_reference']!r} must be an integer "
                       ">= 2 (each record needs reference models that trained on it and "
                       "models that did not)")
    _check_range(name, out)
    return out


def _check_range(name: str, out: dict[str, Any]) -> None:
    bounds = {"offline_a": (0.0, 1.0), "delta": (0.0, 1.0), "confidence": (0.0, 1.0 - 1e-12)}
    for key, (lo, hi) in bounds.items():
        if key in out and not lo <= float(out[key]) <= hi:
            raise BadInput(f"attack {name}: {key}={out[key]!r} must lie in [{lo:g}, {hi:g}]")
    for key in ("top_k", "n_canaries", "n_guesses"):
        if key in out and (out[key] != int(out[key]) or out[key] < 0):
            raise BadInput(f"attack {name}: {key}={out[key]!r} must be a non-negative integer")
    if "gamma" in out and out["gamma"] <= 0:
        raise BadInput(f"attack {name}: gamma={out['gamma']!r} must be positive")


def require_fit(model: Any, name: str, n: int) -> None:
    what = "its training run" if name == "dp_canary" else f"its {n} reference models"
    require(model, ("fit",), f"attack {name} ({what} retrain with the model's own trainer)")
    if not Task.parse(model.task).is_classification:
        raise BadInput(f"attack {name} needs a classifier (its statistic is the true class's "
                       f"confidence); task {Task.parse(model.task).value}")


# --------------------------------------------------------------------------- plans
def population(train: tuple[np.ndarray, np.ndarray],
               test: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The population set: the train data followed by the held-out data."""
    return np.concatenate([train[0], test[0]]), np.concatenate([train[1], test[1]])


def halves_plan(model_spec: Any, train: tuple[np.ndarray, np.ndarray],
                test: tuple[np.ndarray, np.ndarray], n: int, seed: int,
                name: str = "lira") -> reference_models.Plan:
    x, y = population(train, test)
    if len(x) < 2 * n:
        raise BadInput(f"attack {name}: the population (train + held-out data) has {len(x)} "
                       f"records, too few for n_reference={n} (each model trains on a random "
                       f"half, which needs at least 2 records per model); use n_reference <= "
                       f"{len(x) // 2}")
    keep = reference_models.halves(n, len(x), seed)
    return reference_models.plan(x, y, keep, reference_models.trainer_identity(model_spec),
                                 seed, "halves")


def request_plan(request: dict[str, Any], job: AuditJob, prep: Any
                 ) -> reference_models.Plan:
    """The plan a request names ({"set": "halves", "n_reference"} or {"set": "canaries",
    "n_canaries"}), for the prepared model and data of `job`."""
    if request["set"] == "canaries":
        return canary.plan(job.model.spec, prep.train, prep.test, n_classes(prep.model, prep),
                           int(request["n_canaries"]), prep.seed)
    return halves_plan(job.model.spec, prep.train, prep.test, int(request["n_reference"]),
                       prep.seed, request.get("name", "lira"))


def n_classes(model: Any, prep: Any) -> int:
    n = getattr(model, "nb_classes", None)
    return int(n) if n else int(max(prep.train[1].max(), prep.test[1].max())) + 1


def canary_count(params: dict[str, Any], n_test: int) -> int:
    return int(params["n_canaries"]) or min(MAX_CANARIES, n_test)


def retrainable(model: Any) -> bool:
    return callable(getattr(model, "fit", None))


def suite_n_reference(job: AuditJob) -> int:
    n = job.config.params.get("n_reference", N_REFERENCE)
    return int(check_params("lira", {"n_reference": n})["n_reference"])


# --------------------------------------------------------------------------- attacks
def attack_record(name: str, params: dict[str, Any], model: Any,
                  train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                  n_each: int, seed: int, model_spec: Any) -> dict[str, Any]:
    """One LiRA/RMIA record on up to n_each members and as many non-members."""
    params = check_params(name, params)
    n_ref = int(params["n_reference"])
    require_fit(model, name, n_ref)
    t0 = time.perf_counter()
    p = halves_plan(model_spec, train, test, n_ref, seed, name)
    reference_models.train_inline(model, p)  # what the runner did not train before
    pop_x, pop_y = p.x, p.y
    idx, member = audit_indices(len(train[0]), len(test[0]), n_each, seed)
    ref_out, target_out = p.outputs(), np.asarray(model.predict(pop_x), dtype=np.float64)
    if name == "lira":
        fixed = lira.use_fixed(params["variance"], n_ref)
        score = lira.scores(lira.scaled_logit(target_out, pop_y),
                            lira.scaled_logit(ref_out, pop_y), p.keep, mode=params["mode"],
                            fixed=fixed)[idx]
    else:
        score = rmia.scores(rmia.log_prob(target_out, pop_y), rmia.log_prob(ref_out, pop_y),
                            p.keep, idx, mode=params["mode"],
                            offline_a=float(params["offline_a"]), gamma=float(params["gamma"]))
    baseline = -np.asarray(model.get_loss(pop_x[idx], pop_y[idx]), dtype=np.float64)
    call_seed = randomness.derive(seed, name)
    rec = scored_record(name, member, score, baseline, call_seed)
    rec["exposed"] = exposed(idx, member, score, pop_y, int(params["top_k"]))
    rec["params"] = params
    rec["metrics"]["n_reference"] = n_ref
    rec["reference_models"] = {"n": n_ref, "folder": str(p.root), "keys": list(p.keys)}
    rec["seeds"] = [call_seed, *p.seeds]
    rec["time_s"] = time.perf_counter() - t0
    return rec


def audit_indices(n_train: int, n_test: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Population indices and labels of `privacy.membership_sets(train, test, n, seed)`."""
    rng = np.random.default_rng(seed)
    k = min(n, n_train, n_test)
    im, io = rng.permutation(n_train)[:k], rng.permutation(n_test)[:k]
    return np.r_[im, n_train + io], np.r_[np.ones(k, bool), np.zeros(k, bool)]


def scored_record(name: str, member: np.ndarray, score: np.ndarray, baseline: np.ndarray,
                  seed: int) -> dict[str, Any]:
    """Metrics, intervals and ROC of a score, with the loss attack's beside it."""
    low, roc = stats.low_fpr(member, score), stats.log_roc(member, score)
    base_low, base_roc = stats.low_fpr(member, baseline), stats.log_roc(member, baseline)
    metrics = {"auc": roc["auc"], **{k: v["tpr"] for k, v in low.items()},
               "baseline_auc": base_roc["auc"],
               **{f"baseline_{k}": v["tpr"] for k, v in base_low.items()},
               "n_members": int(member.sum()), "n_non_members": int((~member).sum())}
    intervals = {"auc": stats.auc_interval(member, score, seed),
                 **{k: v["tpr_interval"] for k, v in low.items()}}
    roc["baseline"] = {"name": "mi_loss", **base_roc}
    return {"name": name, "metrics": metrics, "intervals": intervals, "low_fpr": low,
            "baseline": {"name": "mi_loss", "low_fpr": base_low}, "roc": roc}


def exposed(idx: np.ndarray, member: np.ndarray, score: np.ndarray, y: np.ndarray,
            k: int) -> list[dict[str, Any]]:
    """The k members scored most likely members: index in the train data, score, class."""
    rows = np.flatnonzero(member)
    top = rows[np.argsort(-score[rows], kind="stable")[:k]]
    return [{"index": int(idx[i]), "split": "train", "score": float(score[i]),
             "class": int(y[idx[i]])} for i in top]


def suite_record(name: str, model: Any, members: tuple[np.ndarray, np.ndarray],
                 nonmembers: tuple[np.ndarray, np.ndarray], n: int, seed: int,
                 job: AuditJob) -> dict[str, Any]:
    """A level I suite shard (LiRA/RMIA with default parameters, `n_reference` from the
    config's `params`)."""
    return attack_record(name, {"n_reference": suite_n_reference(job)}, model, members,
                         nonmembers, n, seed, job.model.spec)


def result(name: str, params: dict[str, Any], prep: Any, job: AuditJob) -> dict[str, Any]:
    """The level II result of one of these attacks."""
    params = dict(params)
    n_each = int(params.pop("n_samples", len(prep.x)))
    if name == "dp_canary":
        checked = check_params(name, params)
        require_fit(prep.model, name, 1)
        p = canary.plan(job.model.spec, prep.train, prep.test, n_classes(prep.model, prep),
                        canary_count(checked, len(prep.test[0])), prep.seed)
        t0 = time.perf_counter()
        reference_models.train_inline(prep.model, p)
        rec = canary.record(p, len(prep.train[0]), checked, prep.seed)
        rec["time_s"] = time.perf_counter() - t0
        summary, sanity, extra = canary.summary(rec), [], {}
    else:
        rec = attack_record(name, params, prep.model, prep.train, prep.test, n_each, prep.seed,
                            job.model.spec)
        summary, sanity, extra = one_line(rec), low_fpr_sanity(rec), {"exposed": rec["exposed"]}
    roc = rec.pop("roc")
    return {"threat": "privacy", "task": Task.parse(prep.model.task).value, "attack": name,
            "grade": None, "summary": summary, "metrics": dict(rec["metrics"]),
            "params": rec["params"], "attacks": [rec], "curves": {"roc": roc},
            "sanity": sanity, "examples": [], "n_samples": int(rec["metrics"]["n_members"]
                                                              + rec["metrics"]["n_non_members"]),
            **extra}


def one_line(rec: dict[str, Any]) -> str:
    m, (lo, hi) = rec["metrics"], rec["intervals"]["auc"]
    return (f"{rec['name']} ({m['n_reference']} reference models, {m['n_members']} members, "
            f"{m['n_non_members']} non-members): AUC {m['auc']:.3f} (95% {lo:.3f} to {hi:.3f}), "
            f"TPR {m['tpr_at_1pct_fpr']:.1%} at 1% FPR and {m['tpr_at_0.1pct_fpr']:.1%} at "
            f"0.1%; the loss attack: AUC {m['baseline_auc']:.3f}, TPR "
            f"{m['baseline_tpr_at_1pct_fpr']:.1%} at 1% FPR.")


def low_fpr_sanity(rec: dict[str, Any]) -> list[dict[str, Any]]:
    n_out = rec["metrics"]["n_non_members"]
    return [{"flag": "enough_samples_for_low_fpr", "ok": n_out >= 1000,
             "detail": f"{n_out} non-members: TPR at 0.1% FPR needs >= 1000 to be meaningful"}]
