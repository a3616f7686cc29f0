"""The audit engine: pure functions from a config to the result dict (levels I, II, III).

`compute(job)` is the one entry point, used in-process and by every MPI rank alike; the
result has the shape the report renders (level, threat, task, suite|attack, grade,
summary, metrics, attacks, curves, sanity, examples, config, n_samples, params).
Persisting it as a run is `dii_hpc.audit.core.results.persist`'s job.
"""

from __future__ import annotations

from typing import Any

from dii_hpc.audit.core import data, randomness
from dii_hpc.audit.evasion import generate as evasion
from dii_hpc.audit.job import AuditJob
from dii_hpc.audit.model.validate import pop_number
from dii_hpc.audit.poisoning import attacks as poisoning
from dii_hpc.audit.privacy import membership as privacy
from dii_hpc.errors import BadInput

SUITES = ("evasion", "privacy", "poisoning")


def known_attacks() -> dict[str, str]:
    """Attack name -> threat, over all catalogues (for listings and errors)."""
    out = {name: "evasion" for name in evasion.ATTACKS}
    out |= {name: "privacy" for name in privacy.ATTACKS}
    out |= {name: "poisoning" for name in poisoning.ATTACKS}
    from dii_hpc.audit.evasion import vision as vision_attacks  # detection / segmentation

    return out | {name: "evasion" for name in vision_attacks.ATTACKS if name not in out}


def threat_of(name: str) -> str:
    known = known_attacks()
    if name not in known:
        raise BadInput(f"unknown attack {name!r}; known: {', '.join(known)} "
                       "(or an ART class path such as art.attacks.evasion.FastGradientMethod "
                       "with `dii-hpc audit run`)")
    return known[name]


def compute(job: AuditJob, generator: Any = None,
            examples_dir: str | None = None) -> dict[str, Any]:
    """Run one audit job and return its result dict."""
    from dii_hpc.audit import vision_engine as vision

    model = job.model.build()  # one builder for every task
    if vision.handles(job, model):  # object_detection / image_segmentation: own labels, metrics
        return vision.compute(job, generator, examples_dir, model)
    prep = data.prepare(job, model)
    if job.level == "I":
        from dii_hpc.audit.core.checkpoint import Checkpoint, for_job

        ck = for_job(job) if job.resume else Checkpoint(None)
        resumed = len(ck.done())
        result = _suite(job, prep, generator, examples_dir, ck)
        result["resumed_shards"] = resumed
        ck.clear()
    elif job.level == "II":
        result = _attack(job.name, dict(job.params), prep, generator, job.engine, job)
    else:
        result = _raw(job, prep, generator)
    result["level"] = job.level
    result["config"] = job.record() | {"params": result.get("params", job.params)}
    result["manifest"] = data.manifest(job, prep) | {
        "randomness": randomness.manifest(prep.seed, result.get("attacks") or [])}
    return result


def _suite(job: AuditJob, prep: data.Prepared, generator: Any,
           examples_dir: str | None, ck: Any) -> dict[str, Any]:
    from dii_hpc.audit.evasion import suite as evasion_suite

    threat = job.name
    if threat not in SUITES:
        raise BadInput(f"unknown suite {threat!r}; known suites: {', '.join(SUITES)}")
    subset = job.config.attacks
    if job.config.standard:
        from dii_hpc.audit.evasion.autoattack import standard as autoattack

        out = autoattack.run(job, prep, generator, examples_dir, ck)
    elif threat == "evasion":
        out = evasion_suite.run_suite(prep.model, prep.x, prep.y, seed=prep.seed,
                                      attacks=subset, examples_dir=examples_dir,
                                      generator=generator, ck=ck, engine=job.engine)
    elif threat == "privacy":
        from dii_hpc.audit.privacy import suite as privacy_suite

        out = privacy_suite.run_suite(prep.model, prep.train, prep.test,
                                      n=job.config.n_samples, seed=prep.seed, attacks=subset,
                                      generator=generator, ck=ck, job=job)
    else:
        from dii_hpc.audit.poisoning import suite as poisoning_suite

        out = poisoning_suite.run_suite(prep.model, prep.train, prep.test, seed=prep.seed,
                                        target=poison_target(job), ck=ck)
    return {"threat": threat, "params": out.pop("params", {}), **out}


def poison_target(job: AuditJob) -> int:
    """The poisoning suite's target class (`params: {target: k}`, default 0)."""
    return int(job.config.params.get("target", 0))


def _attack(name: str, params: dict[str, Any], prep: data.Prepared,
            generator: Any, engine: str = "art", job: AuditJob | None = None
            ) -> dict[str, Any]:
    """Level II: one catalogue attack, partly fixed params, a per-method result."""
    threat = threat_of(name)
    if name in privacy.REFERENCE_ATTACKS:  # LiRA, RMIA, dp_canary: reference models
        from dii_hpc.audit.privacy.reference import attacks as reference_attacks

        assert job is not None, "reference attacks train from the job's model reference"
        return reference_attacks.result(name, params, prep, job)
    curves: dict[str, Any] = {}
    if threat == "evasion":
        record, _, _ = evasion.run_named(prep.model, prep.x, prep.y, name, params,
                                         seed=prep.seed, generator=generator, engine=engine)
        n = len(prep.x)
    elif name == "attribute_inference":
        from dii_hpc.audit.privacy import attribute

        record, n = attribute.run(prep.model, prep.train, params, prep.seed), len(prep.train[0])
    elif threat == "privacy":
        n_each = pop_number(params, "n_samples", len(prep.x), name, int)
        x, y, member = privacy.membership_sets(prep.train, prep.test, n_each, prep.seed)
        record = privacy.run_attack(name, prep.model, x, y, member, params, prep.seed,
                                    generator)
        curves["roc"], n = record.pop("roc"), len(x)
    else:
        record, n = _poisoning(name, params, prep), len(prep.train[0])
        if "curve" in record:
            curves[name] = record.pop("curve")
    return {"threat": threat, "task": _task(prep), "attack": name, "grade": None,
            "summary": _one_line(name, record["metrics"]), "metrics": dict(record["metrics"]),
            "params": record["params"], "attacks": [record], "curves": curves,
            "sanity": [], "examples": [], "n_samples": int(n)}


def _poisoning(name: str, params: dict[str, Any], prep: data.Prepared) -> dict[str, Any]:
    frac = pop_number(params, "fraction", 0.1, name)
    target = pop_number(params, "target", 0, name, int)
    if name == "backdoor":
        _reject_extra(name, params)
        return poisoning.backdoor(prep.model, prep.train, prep.test, frac, target, prep.seed)[0]
    if name == "clean_label_backdoor":
        eps = params.pop("eps", None)
        _reject_extra(name, params)
        return poisoning.clean_label(prep.model, prep.train, prep.test, frac, target,
                                     prep.seed, eps)
    if name == "label_flip":
        fracs = tuple(params.pop("fractions", poisoning.FLIP_FRACTIONS))
        _reject_extra(name, params)
        return poisoning.label_flip(prep.model, prep.train, prep.test, fracs, prep.seed)
    return poisoning.detect(name, prep.model, prep.train, frac, target, prep.seed, None, params)


def _reject_extra(name: str, params: dict[str, Any]) -> None:
    if params:
        raise BadInput(f"attack {name}: unknown parameter(s) {', '.join(params)}")


def _raw(job: AuditJob, prep: data.Prepared, generator: Any) -> dict[str, Any]:
    """Level III: any ART attack class with any parameters; raw metrics, no analysis."""
    import time

    from dii_hpc.audit.model.adapter import estimator_for
    from dii_hpc.audit.model.validate import check_budget

    path, params = job.name, dict(job.params)
    if "." not in path:
        return _attack(path, params, prep, generator, job=job) | {"grade": None}
    if job.threat != "evasion":
        return _raw_membership(path, params, prep)
    if "norm" in params:
        params["norm"] = evasion.parse_norm(params["norm"])
    check_budget(params, prep.model.clip_values, int(prep.x[0].size), path)
    attack = evasion.build(path, estimator_for(prep.model), params, path)
    t0 = time.perf_counter()
    x_adv = evasion.generate_shown(attack, prep.x, prep.y, prep.seed, path, generator=generator)
    metrics, intervals, _ = evasion.score(prep.model, prep.x, prep.y, x_adv)
    record = {"name": path, "params": evasion.jsonable(params), "metrics": metrics,
              "intervals": intervals, "time_s": time.perf_counter() - t0,
              "seeds": randomness.block_seeds(prep.seed, path, len(prep.x))}
    return {"threat": "evasion", "task": _task(prep), "attack": path, "grade": None,
            "summary": _one_line(path, metrics), "metrics": metrics,
            "params": record["params"], "attacks": [record], "curves": {}, "sanity": [],
            "examples": [], "n_samples": int(len(prep.x))}


def _raw_membership(path: str, params: dict[str, Any], prep: data.Prepared) -> dict[str, Any]:
    """ART membership class: fit on half (when it learns), infer probabilities on the rest."""
    import time

    import numpy as np

    from dii_hpc.audit.core import stats
    from dii_hpc.audit.model.adapter import estimator_for

    x, y, member = privacy.membership_sets(prep.train, prep.test, len(prep.x), prep.seed)
    fit, held = privacy.halves(member, prep.seed)
    seed = randomness.derive(prep.seed, path)
    t0 = time.perf_counter()
    attack = evasion.build(path, estimator_for(prep.model), params, path)
    try:
        with randomness.seeded(seed):
            if callable(getattr(attack, "fit", None)):
                attack.fit(x[fit & member], y[fit & member], x[fit & ~member], y[fit & ~member])
            prob = np.asarray(attack.infer(x[held], y[held], probabilities=True),
                              dtype=np.float64)
    except (ValueError, TypeError) as err:
        raise BadInput(f"attack {path}: ART failed: {str(err).splitlines()[0]}") from err
    score = prob[:, -1] if prob.ndim == 2 else prob.reshape(-1)
    roc = stats.roc_summary(member[held], score)
    metrics = {k: roc[k] for k in ("auc", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr")}
    metrics |= {"n_members": int(member[held].sum()), "n_non_members": int((~member[held]).sum())}
    record = {"name": path, "params": evasion.jsonable(params), "metrics": metrics,
              "intervals": {"auc": stats.auc_interval(member[held], score, seed)},
              "time_s": time.perf_counter() - t0, "seeds": [seed]}
    return {"threat": "privacy", "task": _task(prep), "attack": path, "grade": None,
            "summary": _one_line(path, metrics), "metrics": metrics, "params": record["params"],
            "attacks": [record], "curves": {"roc": {k: roc[k] for k in ("fpr", "tpr", "auc")}},
            "sanity": [], "examples": [], "n_samples": int(held.sum())}


def _task(prep: data.Prepared) -> str:
    from dii_hpc.audit.model.protocols import Task

    return Task.parse(prep.model.task).value


def _one_line(name: str, metrics: dict[str, Any]) -> str:
    keys = [k for k in ("clean_accuracy", "robust_accuracy", "auc", "balanced_accuracy",
                        "attack_success_rate", "precision", "recall", "clean_mae", "adv_mae")
            if k in metrics][:3]
    body = ", ".join(f"{k} {metrics[k]:.3f}" for k in keys)
    return f"{name}: {body}." if body else f"{name} finished."
