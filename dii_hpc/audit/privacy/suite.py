"""Level I privacy suite: every membership attack of the task, graded on evidence.

Grade: the highest *lower bound* of the attacks' 95% AUC intervals (`GRADING`, the
`Suite` record's). A point AUC from a small sample (the label-only attack once scored 10
members and 10 non-members) can come out above a real leak by chance; its interval is wide,
so its lower bound stays low. The grade therefore says "some attack separates members from
non-members at least this well", and `max_membership_auc` (the best point AUC) sits
beside it. Each attack is a shard kept in the job's checkpoint (resume, Slurm array tasks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc import progress
from dii_hpc.audit.core import sample_shards
from dii_hpc.audit.core.checkpoint import Checkpoint, cached
from dii_hpc.audit.core.data import Prepared
from dii_hpc.audit.model.protocols import Predictor, Task
from dii_hpc.audit.privacy import membership as privacy
from dii_hpc.audit.specs import LABEL_TASKS, Call, Facts, Grading, Suite, attack, shape_of

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.core.data import Generator
    from dii_hpc.audit.job import AuditJob

MEMBERSHIP = ("mi_loss", "mi_confidence", "mi_gap", "mi_blackbox", "mi_label_only")
REFERENCE = ("lira", "rmia")  # when the model has `fit`: their reference models retrain it
ATTRIBUTE = ("attribute_inference",)
GRADING = Grading("membership_auc_lower_bound", (0.55, 0.6, 0.7, 0.8), higher_is_better=False,
                  doc="the highest lower bound of the attacks' 95% AUC intervals (a small "
                      "sample cannot decide the grade by chance)")

SMALL_SAMPLE = 50  # per side: below this an attack's AUC interval is wider than +-0.1


def suite_attacks(task: Task, attacks: list[str] | None = None,
                  retrainable: bool = False) -> list[str]:
    """The suite's attacks for `task` (`attacks` may only drop some); LiRA and RMIA when
    the model can be retrained (`fit`: their reference models) and classifies."""
    full = [*MEMBERSHIP, *(REFERENCE if retrainable else ()), *ATTRIBUTE]
    return [a for a in full if attack(a).applies(task) and (not attacks or a in attacks)]


def shard_keys(task: Task, attacks: list[str] | None = None,
               retrainable: bool = False) -> list[str]:
    """The suite's independent shards: one per attack."""
    return [f"attack-{a}" for a in suite_attacks(task, attacks, retrainable)]


def blocked(shard: str) -> bool:
    """Shards whose attack is one blocked generation (they can be split by samples)."""
    return attack(shard.partition("-")[2]).splits


def compute_shard(model: Predictor, members: tuple[np.ndarray, np.ndarray],
                  nonmembers: tuple[np.ndarray, np.ndarray], n: int, seed: int, shard: str,
                  ck: Checkpoint, generator: Generator | None = None,
                  job: AuditJob | None = None) -> dict[str, Any]:
    """One attack's record (`attack-<name>`), computed or loaded from `ck` (the label-only
    attack's HopSkipJump may have been split over tasks by samples: `sample_shards`;
    LiRA/RMIA need the job: their reference models are keyed by its model reference). Each
    attack takes the config's ``params`` its record has defaults for (``n_reference``)."""
    spec = attack(shard.partition("-")[2])
    generator = sample_shards.reader(ck, shard, generator)
    known = spec.defaults(shape_of(model))
    params = {k: v for k, v in (job.config.params if job else {}).items() if k in known}
    prep = Prepared(model, members, nonmembers, nonmembers[0][:n], nonmembers[1][:n], seed, "")

    def run() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        out = spec.run(spec, Call(job, prep, params, generator))
        return out.record | ({"roc": out.curves["roc"]} if "roc" in out.curves else {}), {}

    return cached(ck, shard, run)[0]


def run_suite(model: Predictor, members: tuple[np.ndarray, np.ndarray],
              nonmembers: tuple[np.ndarray, np.ndarray], *, n: int = 200, seed: int = 0,
              attacks: list[str] | None = None, generator: Any = None,
              ck: Checkpoint | None = None, job: AuditJob | None = None) -> dict[str, Any]:
    """Run the suite and return the audit section (without config/level keys); LiRA and
    RMIA join when `job` (the audit: its model reference keys their models) is given and the model
    has `fit`."""
    task = Task.parse(model.task)
    ck = ck or Checkpoint(None)
    retrain = job is not None and callable(getattr(model, "fit", None))
    keys = shard_keys(task, attacks, retrain)
    records = []
    with progress.bar("privacy suite: attacks", len(keys)) as bar:
        for key in keys:
            records.append(compute_shard(model, members, nonmembers, n, seed, key, ck, generator,
                                         job))
            bar.advance()
    membership = [r for r in records if r["name"] not in ATTRIBUTE]
    best = max(membership, key=lambda r: (_lower(r), r["metrics"]["auc"]))
    metrics = {"membership_auc_lower_bound": _lower(best),
               "max_membership_auc": max(r["metrics"]["auc"] for r in membership),
               "max_advantage": max(r["metrics"].get("advantage", 0.0) for r in membership),
               "max_tpr_at_1pct_fpr": max(r["metrics"].get("tpr_at_1pct_fpr", 0.0)
                                          for r in membership)}
    if records[-1]["name"] in ATTRIBUTE:
        metrics["attribute_model_leakage"] = records[-1]["metrics"]["model_leakage"]
    x, y, is_member = privacy.membership_sets(members, nonmembers, n, seed)
    if not task.is_regression:
        correct = np.argmax(model.predict(x), axis=1) == y
        metrics |= {"train_accuracy": float(correct[is_member].mean()),
                    "test_accuracy": float(correct[~is_member].mean())}
    letter = GRADING.grade(metrics["membership_auc_lower_bound"])
    return {"task": task.value, "suite": "privacy", "grade": letter,
            "summary": _sentence(best, letter), "metrics": metrics, "attacks": records,
            "curves": {"roc": best["roc"]},
            "sanity": _sanity(membership, int(is_member.sum())) + _reference_flag(task, model, retrain),
            "examples": [], "n_samples": int(len(x))}


def _reference_flag(task: Task, model: Predictor, retrain: bool) -> list[dict[str, Any]]:
    """Say when the field's standard attacks (LiRA, RMIA) could not run, and why."""
    if retrain or not task.is_classification:
        return []
    why = ("run_suite was given no audit job, whose model reference keys their reference models"
           if callable(getattr(model, "fit", None)) else
           "their reference models are retrained with model.fit(x, y), which this model "
           "does not implement")
    return [{"flag": "reference_attacks", "ok": False, "detail": f"LiRA and RMIA skipped: {why}"}]


def _lower(record: dict[str, Any]) -> float:
    return float(record["intervals"]["auc"][0])


def _sentence(best: dict[str, Any], letter: str | None) -> str:
    m, (lo, hi) = best["metrics"], best["intervals"]["auc"]
    return (f"The strongest membership attack ({best['name']}, {m['n_members']} members and "
            f"{m['n_non_members']} non-members) reaches AUC {m['auc']:.3f} (95% interval "
            f"{lo:.3f} to {hi:.3f}); graded on the lower bound: grade {letter}.")


def _sanity(records: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    smallest = min(records, key=lambda r: min(r["metrics"]["n_members"],
                                              r["metrics"]["n_non_members"]))
    side = min(smallest["metrics"]["n_members"], smallest["metrics"]["n_non_members"])
    return [{"flag": "enough_samples_for_low_fpr", "ok": k >= 1000,
             "detail": f"{k} non-members: TPR at 0.1% FPR needs >= 1000 to be meaningful"},
            {"flag": "small_attack_sample", "ok": side >= SMALL_SAMPLE,
             "detail": f"smallest attack sample: {smallest['name']} scores {side} per side "
                       f"(below {SMALL_SAMPLE} its AUC interval is wider than +-0.1)"}]


# ---- the suite's record -----------------------------------------------------------------------
def _run(job: AuditJob, prep: Prepared, generator: Generator | None, examples_dir: str | None,
         ck: Checkpoint) -> dict[str, Any]:
    return run_suite(prep.model, prep.train, prep.test, n=job.config.n_samples, seed=prep.seed,
                     attacks=job.config.attacks, generator=generator, ck=ck, job=job)


def _plan(job: AuditJob, facts: Facts) -> list[str]:
    assert facts.task is not None
    return shard_keys(facts.task, job.config.attacks, facts.retrainable is not False)


def _compute(job: AuditJob, prep: Prepared, shard: str, ck: Checkpoint,
             generator: Generator | None) -> None:
    compute_shard(prep.model, prep.train, prep.test, job.config.n_samples, prep.seed, shard, ck,
                  generator, job)


def _trains(job: AuditJob, prep: Prepared) -> list[dict[str, Any]]:
    """LiRA and RMIA share one set of reference models, trained before the shards score."""
    from dii_hpc.audit.privacy.reference import attacks as ra

    wanted = suite_attacks(prep.task, job.config.attacks, ra.retrainable(prep.model))
    if not set(wanted) & set(REFERENCE):
        return []
    return [{"set": "halves", "n_reference": ra.suite_n_reference(job), "name": "lira"}]


def _raw(job: AuditJob, prep: Prepared, generator: Generator | None) -> dict[str, Any]:
    from dii_hpc.audit.privacy import raw

    return raw.run(job, prep)


PRIVACY = Suite(
    "privacy", "privacy",
    "every membership attack of the task (LiRA and RMIA when the model has fit), attribute "
    "inference on tabular data; graded on the AUC intervals' lower bounds",
    LABEL_TASKS, GRADING, _run, _plan, _compute, lambda job, shard: blocked(shard),
    trains=_trains, raw=_raw, claims=(".inference.",), mpi=True)
