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
from dii_hpc.audit.model.protocols import (
    Predictor,
    ReferenceModel,
    RetrainableModel,
    Task,
    require,
)
from dii_hpc.audit.privacy import canary
from dii_hpc.audit.privacy.reference import lira, rmia
from dii_hpc.audit.privacy.reference import models as reference_models
from dii_hpc.audit.specs import CLASSIFIERS, AttackSpec
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.job import AuditJob
    from dii_hpc.audit.specs import Call, Outcome

SUITE = ("lira", "rmia")
N_REFERENCE = 16
LIRA = {"n_reference": N_REFERENCE, "mode": "online", "variance": "auto", "top_k": 10}
RMIA = {"n_reference": N_REFERENCE, "mode": "online", "offline_a": rmia.DEFAULT_OFFLINE_A,
        "gamma": 1.0, "top_k": 10}
DP_CANARY = {"n_canaries": 0, "n_guesses": 0, "delta": 1e-5, "confidence": 0.95}
CHOICES = {"mode": lira.MODES, "variance": lira.VARIANCES}
MAX_CANARIES = 500


def check_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every value checked, before any model is built."""
    from dii_hpc.audit.specs import attack

    defaults = dict(attack(name).options["defaults"])
    unknown = sorted(set(params) - set(defaults) - {"n_samples"})
    if unknown:
        raise BadInput(f"attack {name}: unknown parameter(s) {', '.join(unknown)}; known: "
                       f"{', '.join(defaults)}, n_samples")
    out = {**defaults, **{k: v for k, v in params.items() if k != "n_samples"}}
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


def require_fit(model: Predictor, name: str, n: int) -> None:
    from dii_hpc.audit.specs import attack

    what = str(attack(name).options["retrains"]).format(n=n)
    require(model, RetrainableModel, f"attack {name} ({what} retrain with the model's own "
                                     "trainer)")
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


def n_classes(model: Predictor, prep: Any) -> int:
    n = getattr(model, "nb_classes", None)
    return int(n) if n else int(max(prep.train[1].max(), prep.test[1].max())) + 1


def canary_count(params: dict[str, Any], n_test: int) -> int:
    return int(params["n_canaries"]) or min(MAX_CANARIES, n_test)


def retrainable(model: Predictor) -> bool:
    return callable(getattr(model, "fit", None))


def suite_n_reference(job: AuditJob) -> int:
    n = job.config.params.get("n_reference", N_REFERENCE)
    return int(check_params("lira", {"n_reference": n})["n_reference"])


def _lira_score(params: dict[str, Any], p: reference_models.Plan, target_out: np.ndarray,
                pop_y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    fixed = lira.use_fixed(params["variance"], int(params["n_reference"]))
    return lira.scores(lira.scaled_logit(target_out, pop_y), lira.scaled_logit(p.outputs(), pop_y),
                       p.keep, mode=params["mode"], fixed=fixed)[idx]


def _rmia_score(params: dict[str, Any], p: reference_models.Plan, target_out: np.ndarray,
                pop_y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return rmia.scores(rmia.log_prob(target_out, pop_y), rmia.log_prob(p.outputs(), pop_y),
                       p.keep, idx, mode=params["mode"], offline_a=float(params["offline_a"]),
                       gamma=float(params["gamma"]))


# --------------------------------------------------------------------------- attacks
def attack_record(name: str, params: dict[str, Any], model: ReferenceModel,
                  train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                  n_each: int, seed: int, model_spec: Any) -> dict[str, Any]:
    """One LiRA/RMIA record on up to n_each members and as many non-members."""
    from dii_hpc.audit.specs import attack

    params = check_params(name, params)
    n_ref = int(params["n_reference"])
    require_fit(model, name, n_ref)
    t0 = time.perf_counter()
    p = halves_plan(model_spec, train, test, n_ref, seed, name)
    reference_models.train_inline(model, p)  # what the runner did not train before
    pop_x, pop_y = p.x, p.y
    idx, member = audit_indices(len(train[0]), len(test[0]), n_each, seed)
    target_out = np.asarray(model.predict(pop_x), dtype=np.float64)
    score = attack(name).options["score"](params, p, target_out, pop_y, idx)
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


def suite_record(name: str, model: ReferenceModel, members: tuple[np.ndarray, np.ndarray],
                 nonmembers: tuple[np.ndarray, np.ndarray], n: int, seed: int,
                 job: AuditJob) -> dict[str, Any]:
    """A level I suite shard (LiRA/RMIA with default parameters, `n_reference` from the
    config's `params`)."""
    return attack_record(name, {"n_reference": suite_n_reference(job)}, model, members,
                         nonmembers, n, seed, job.model.spec)


def _halves(spec: AttackSpec, call: Call) -> Outcome:
    """A LiRA/RMIA level II result (and suite shard): on up to ``n_samples`` members."""
    from dii_hpc.audit.specs import Outcome

    assert call.job is not None, "reference models are keyed by the job's model reference"
    params = dict(call.params)
    n_each = int(params.pop("n_samples", len(call.prep.x)))
    prep = call.prep
    rec = attack_record(spec.name, params, prep.model, prep.train, prep.test, n_each,
                        prep.seed, call.job.model.spec)
    roc = rec.pop("roc")
    m = rec["metrics"]
    return Outcome(rec, int(m["n_members"] + m["n_non_members"]), curves={"roc": roc},
                   sanity=low_fpr_sanity(rec), summary=one_line(rec),
                   extra={"exposed": rec["exposed"]})


def _canary(spec: AttackSpec, call: Call) -> Outcome:
    """The DP canary audit's level II result."""
    from dii_hpc.audit.specs import Outcome

    assert call.job is not None, "the canary run is keyed by the job's model reference"
    prep, params = call.prep, dict(call.params)
    params.pop("n_samples", None)
    checked = check_params(spec.name, params)
    require_fit(prep.model, spec.name, 1)
    p = canary.plan(call.job.model.spec, prep.train, prep.test, n_classes(prep.model, prep),
                    canary_count(checked, len(prep.test[0])), prep.seed)
    t0 = time.perf_counter()
    reference_models.train_inline(prep.model, p)
    rec = canary.record(p, len(prep.train[0]), checked, prep.seed)
    rec["time_s"] = time.perf_counter() - t0
    m = rec["metrics"]
    return Outcome(rec, int(m["n_members"] + m["n_non_members"]),
                   curves={"roc": rec.pop("roc")}, summary=canary.summary(rec))


def _halves_request(job: AuditJob, prep: Any) -> list[dict[str, Any]]:
    params = check_params(job.name, dict(job.params))
    require_fit(prep.model, job.name, int(params["n_reference"]))
    return [{"set": "halves", "n_reference": int(params["n_reference"]), "name": job.name}]


def _canary_request(job: AuditJob, prep: Any) -> list[dict[str, Any]]:
    params = check_params(job.name, dict(job.params))
    require_fit(prep.model, job.name, 1)
    return [{"set": "canaries", "n_canaries": canary_count(params, len(prep.test[0]))}]


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


# --------------------------------------------------------------------------- records
def _reference(name: str, defaults: dict[str, Any], run: Any, trains: Any, doc: str,
               retrains: str, **options: Any) -> AttackSpec:
    """A reference-model attack: its models are trained before it scores (`trains`: one
    Slurm array with ``--executor slurm``), so a classifier with `fit` is all it needs."""
    return AttackSpec(name, "privacy", "art", CLASSIFIERS, RetrainableModel, run, doc,
                      lambda shape: dict(defaults), trains=trains,
                      options={"defaults": defaults, "retrains": retrains, **options})


LIRA_ATTACK = _reference(
    "lira", LIRA, _halves, _halves_request,
    "LiRA (Carlini et al. 2022): per-record Gaussian likelihood ratio over N reference models "
    "retrained with model.fit on random halves of the population; online or offline, "
    "per-example or fixed variance (params n_reference=16, mode, variance)",
    "its {n} reference models", score=_lira_score)
RMIA_ATTACK = _reference(
    "rmia", RMIA, _halves, _halves_request,
    "RMIA (Zarifzadeh et al. 2024, as ML Privacy Meter): the record's likelihood ratio against "
    "the population's, same reference models (params n_reference=16, mode, offline_a, gamma)",
    "its {n} reference models", score=_rmia_score)
DP_CANARY_ATTACK = _reference(
    "dp_canary", DP_CANARY, _canary, _canary_request,
    "epsilon lower bound at a stated delta from mislabelled canaries inserted into one "
    "training run (Steinke et al. 2023; params n_canaries, delta=1e-5)", "its training run")
