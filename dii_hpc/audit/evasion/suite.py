"""Level I evasion suite: a fixed, documented set of attacks and the extended analysis.

Suite (classification): fgsm, pgd, pgd_l2, apgd, deepfool, cw (white box), square, hsj
(black box), all with the range-scaled defaults of the catalogue (`evasion.catalogue`) (reference Linf eps
= 10% of the data range). Regression: fgsm, pgd. On top of per-attack metrics:
- worst case per sample over the bounded Linf attacks (fgsm, pgd, apgd, square) at the
  reference eps: a sample counts as robust only if every attack failed (AutoAttack idea);
- a PGD robustness curve over eps = {2, 5, 10, 15, 20, 30}% of the range;
- grade from worst-case robust accuracy / clean accuracy (`GRADING`, the `Suite` record's);
- sanity flags: zero gradients, a black-box attack beating the white-box ones (gradient
  masking), a non-monotone robustness curve, clean accuracy too low to audit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc import progress
from dii_hpc.audit.core import sample_shards, stats
from dii_hpc.audit.core.checkpoint import Checkpoint, cached
from dii_hpc.audit.evasion import generate as evasion
from dii_hpc.audit.model.protocols import GradientModel, Predictor, Task
from dii_hpc.audit.specs import ALL_TASKS, Facts, Grading, Suite, on_engine

CLASSIFICATION_SUITE = ("fgsm", "pgd", "pgd_l2", "apgd", "deepfool", "cw", "square", "hsj")
REGRESSION_SUITE = ("fgsm", "pgd")
WORST_CASE = ("fgsm", "pgd", "apgd", "square")
CURVE_FRACTIONS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
GRADING = Grading("relative_robust_accuracy", (0.8, 0.6, 0.4, 0.2), higher_is_better=True,
                  doc="robust accuracy relative to clean accuracy at the suite's reference eps "
                      "(detectors and segmenters: the task metric's)")

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.core.data import Generator, Prepared
    from dii_hpc.audit.job import AuditJob


def suite_attacks(task: Task, subset: list[str] | None = None) -> tuple[str, ...]:
    """The fixed suite for `task`; `subset` may only drop attacks (level I stays fixed)."""
    from dii_hpc.errors import BadInput

    full: tuple[str, ...] = REGRESSION_SUITE if task.is_regression else CLASSIFICATION_SUITE
    full = tuple(a for a in full if on_engine(a, "art").applies(task))
    if not subset:
        return full
    unknown = [a for a in subset if a not in full]
    if unknown:
        raise BadInput(f"suite evasion has no attack {unknown[0]!r} for {task.value}; "
                       f"suite attacks: {', '.join(full)}")
    return tuple(a for a in full if a in subset)


def run_suite(model: GradientModel, x: np.ndarray, y: np.ndarray, *, seed: int = 0,
              attacks: list[str] | None = None, examples_dir: str | None = None,
              generator: Any = None, ck: Checkpoint | None = None,
              engine: str = "art") -> dict[str, Any]:
    """Run the suite on (x, y) and return the audit section (without config/level keys).

    Each attack and each curve point is a shard kept in `ck`, so a rerun resumes.
    `engine="torch"` runs the attacks the torch engine has in torch, the others in ART."""
    task = Task.parse(model.task)
    names = suite_attacks(task, attacks)
    ck = ck or Checkpoint(None)
    records, flags, advs = [], {}, {}
    with progress.bar("evasion suite: attacks", len(names) + len(CURVE_FRACTIONS)) as bar:
        for name in names:
            record, arrays = compute_shard(model, x, y, seed, f"attack-{name}", ck, generator,
                                           engine)
            records.append(record)
            flags[name] = arrays["ok"].astype(bool)
            advs[name] = (arrays["x_adv"], arrays["shown"].astype(int))
            bar.advance()
        curve = robustness_curve(model, x, y, seed, generator, ck, bar, engine)
    metrics = _summary_metrics(task, records, flags)
    score = _grade_score(task, metrics)
    sanity = sanity_flags(model, x, y, records, curve)
    examples = []
    if examples_dir and "pgd" in advs:
        x_adv, shown = advs["pgd"]
        examples = write_examples(model, x[shown], y[shown], x_adv, examples_dir)
    letter = GRADING.grade(score)
    return {"task": task.value, "suite": "evasion", "grade": letter,
            "summary": _sentence(task, metrics, letter, names),
            "metrics": metrics | {"relative_robust_accuracy": score}, "attacks": records,
            "curves": {"robustness": curve}, "sanity": sanity, "examples": examples,
            "n_samples": int(len(x))}


def _summary_metrics(task: Task, records: list[dict[str, Any]],
                     flags: dict[str, np.ndarray]) -> dict[str, Any]:
    if task.is_regression:
        worst = max(records, key=lambda r: r["metrics"]["adv_rmse"])["metrics"]
        return {k: worst[k] for k in ("clean_mae", "clean_rmse", "adv_mae", "adv_rmse",
                                      "mae_increase", "rmse_increase")}
    clean = records[0]["metrics"]["clean_accuracy"]
    bounded = [flags[n] for n in WORST_CASE if n in flags]
    worst = np.logical_and.reduce(bounded) if bounded else flags[records[0]["name"]]
    return {"clean_accuracy": clean,
            "robust_accuracy": float(worst.mean()),
            "robust_accuracy_interval": stats.rate_interval(worst),
            "min_attack_robust_accuracy": min(r["metrics"]["robust_accuracy"] for r in records)}


def _grade_score(task: Task, metrics: dict[str, Any]) -> float:
    if task.is_regression:
        return float(metrics["clean_rmse"] / max(metrics["adv_rmse"], 1e-12))
    return float(metrics["robust_accuracy"] / max(metrics["clean_accuracy"], 1e-12))


def robustness_curve(model: Predictor, x: np.ndarray, y: np.ndarray, seed: int,
                     generator: Any = None, ck: Checkpoint | None = None,
                     bar: progress.Bar | None = None, engine: str = "art") -> list[dict[str, float]]:
    """PGD (Linf) at growing eps: what accuracy (or RMSE) survives which budget."""
    bar = bar or progress.Bar()
    curve = []
    for frac in CURVE_FRACTIONS:
        curve.append(compute_shard(model, x, y, seed, f"curve-{frac}", ck or Checkpoint(None),
                                   generator, engine)[0])
        bar.advance()
    return curve


def shard_keys(task: Task, attacks: list[str] | None = None) -> list[str]:
    """The suite's independent shards: one per attack, one per eps of the curve."""
    return ([f"attack-{n}" for n in suite_attacks(task, attacks)]
            + [f"curve-{f}" for f in CURVE_FRACTIONS])


def shard_engine(shard: str, engine: str = "art") -> str:
    """The engine a shard runs on: attacks ``engine`` lacks stay on ART (the curve is
    PGD's)."""
    return _spec(shard, engine).engine


def _spec(shard: str, engine: str) -> Any:
    kind, _, arg = shard.partition("-")
    return on_engine(arg if kind == "attack" else "pgd", engine)


def blocked(shard: str, engine: str = "art") -> bool:
    """A shard whose attack is one blocked generation can be split by samples; one on the
    torch engine runs whole (one array task, on that task's device)."""
    return bool(_spec(shard, engine).splits)


def compute_shard(model: Predictor, x: np.ndarray, y: np.ndarray, seed: int, shard: str,
                  ck: Checkpoint, generator: Any = None, engine: str = "art"
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One shard (`attack-<name>` or `curve-<fraction>`), computed or loaded from `ck`.

    Shards are what a Slurm array task computes (`dii_hpc.audit.placement.slurm`); a shard
    split over tasks by samples finds its parts in `ck` (`sample_shards`)."""
    kind, _, arg = shard.partition("-")
    generator = sample_shards.reader(ck, shard, generator)
    on = shard_engine(shard, engine)

    def attack() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        record, ok, x_adv = evasion.run_named(model, x, y, arg, seed=seed, generator=generator,
                                              engine=on)
        shown = np.r_[np.flatnonzero(~ok), np.flatnonzero(ok)][:4]  # successes first
        return record, {"ok": ok, "x_adv": x_adv[shown], "shown": shown}

    def curve_point() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        eps = float(arg) * float(model.clip_values[1] - model.clip_values[0])
        key = "adv_rmse" if Task.parse(model.task).is_regression else "robust_accuracy"
        record, _, _ = evasion.run_named(model, x, y, "pgd", {"eps": eps, "eps_step": eps / 4},
                                         seed=seed, generator=generator, engine=on)
        return {"eps": eps, key: record["metrics"][key]}, {}

    return cached(ck, shard, attack if kind == "attack" else curve_point)


def sanity_flags(model: GradientModel, x: np.ndarray, y: np.ndarray, records: list[dict[str, Any]],
                 curve: list[dict[str, float]]) -> list[dict[str, Any]]:
    """Signs that the numbers cannot be trusted (masking, dead gradients, a bad model)."""
    grads = np.asarray(model.get_grad(x, y)).reshape(len(x), -1)
    zero = float((np.abs(grads).max(1) == 0).mean()) if len(x) else 0.0
    out = [{"flag": "zero_gradients", "ok": zero <= 0.1,
            "detail": f"{zero:.1%} of samples have an all-zero input gradient"}]
    by = {r["name"]: r["metrics"] for r in records}
    if "robust_accuracy" in next(iter(by.values())):
        bounded = [n for n in WORST_CASE if n in by]
        white = [by[n]["robust_accuracy"] for n in bounded if on_engine(n, "art").box == "white"]
        black = [n for n in bounded if on_engine(n, "art").box == "black"]
        if white and black:
            beat = by[black[0]]["robust_accuracy"] < min(white) - 0.05
            out.append({"flag": "black_box_beats_white_box", "ok": not beat,
                        "detail": f"{black[0]} {by[black[0]]['robust_accuracy']:.3f} vs best "
                                  f"white-box {min(white):.3f} at the same eps"})
        clean = records[0]["metrics"]["clean_accuracy"]
        floor = max(0.5, 1.5 / max(int(model.nb_classes or 2), 2))
        out.append({"flag": "clean_accuracy_too_low", "ok": clean >= floor,
                    "detail": f"clean accuracy {clean:.3f} (audit needs >= {floor:.2f})"})
        accs = [p["robust_accuracy"] for p in curve]
        mono = all(b <= a + 0.02 for a, b in zip(accs, accs[1:], strict=False))
        out.append({"flag": "non_monotone_curve", "ok": mono,
                    "detail": "robust accuracy " + ("falls" if mono else "rises") +
                              " with eps along the PGD curve"})
    return out


def _sentence(task: Task, metrics: dict[str, Any], letter: str | None,
              names: tuple[str, ...]) -> str:
    if task.is_regression:
        return (f"Under the worst of {', '.join(names)} the RMSE rises from "
                f"{metrics['clean_rmse']:.3g} to {metrics['adv_rmse']:.3g} (grade {letter}).")
    return (f"Clean accuracy {metrics['clean_accuracy']:.1%} falls to "
            f"{metrics['robust_accuracy']:.1%} under the worst of the Linf attacks "
            f"{', '.join(names)} (grade {letter}).")


def write_examples(model: Predictor, x: np.ndarray, y: np.ndarray, x_adv: np.ndarray | None,
                   out_dir: str, k: int = 4) -> list[str]:
    """PNG pairs (clean | adversarial) for image and time-series tasks; names, not paths."""
    task = Task.parse(model.task)
    if x_adv is None or task not in (Task.IMAGE_CLASSIFICATION, Task.TIMESERIES_CLASSIFICATION):
        return []
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = np.argmax(model.predict(x_adv[:k]), axis=1)
    names = []
    for i in range(min(k, len(x))):
        fig, axes = plt.subplots(1, 2, figsize=(4, 2))
        for ax, img, title in ((axes[0], x[i], f"clean y={y[i]}"),
                               (axes[1], x_adv[i], f"adv pred={pred[i]}")):
            if task is Task.IMAGE_CLASSIFICATION:
                ax.imshow(np.squeeze(img), cmap="gray", vmin=model.clip_values[0],
                          vmax=model.clip_values[1])
            else:
                ax.plot(np.ravel(img))
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        name = f"adv_{i}.png"
        fig.savefig(os.path.join(out_dir, name), dpi=60)
        plt.close(fig)
        names.append(name)
    return names


# ---- the suite's record -----------------------------------------------------------------------
def _run(job: AuditJob, prep: Prepared, generator: Generator | None, examples_dir: str | None,
         ck: Checkpoint) -> dict[str, Any]:
    if prep.task.is_vision:
        from dii_hpc.audit.evasion import vision_suite

        return vision_suite.run_suite(prep.model, prep.x, prep.y, seed=prep.seed,
                                      attacks=job.config.attacks, examples_dir=examples_dir,
                                      grading=GRADING)
    return run_suite(prep.model, prep.x, prep.y, seed=prep.seed, attacks=job.config.attacks,
                     examples_dir=examples_dir, generator=generator, ck=ck, engine=job.engine)


def _plan(job: AuditJob, facts: Facts) -> list[str]:
    from dii_hpc.errors import BadInput

    assert facts.task is not None
    if facts.task.is_vision:
        raise BadInput(f"the evasion suite of {facts.task.value} runs in one process; drop "
                       "--executor slurm")
    return shard_keys(facts.task, job.config.attacks)


def _compute(job: AuditJob, prep: Prepared, shard: str, ck: Checkpoint,
             generator: Generator | None) -> None:
    if _spec(shard, job.engine).on_device:
        from dii_hpc.audit.evasion.torch_engine.target import to_task_device

        to_task_device(prep.model)
    compute_shard(prep.model, prep.x, prep.y, prep.seed, shard, ck, generator, engine=job.engine)


def _raw(job: AuditJob, prep: Prepared, generator: Generator | None) -> dict[str, Any]:
    from dii_hpc.audit.evasion import raw

    return raw.run(job, prep, generator)


EVASION = Suite(
    "evasion", "evasion",
    "fixed attacks at range-scaled budgets, worst case per sample, a PGD curve over eps, "
    "sanity flags (detectors, segmenters: FGSM, PGD, a patch; the task metric)",
    ALL_TASKS, GRADING, _run, _plan, _compute, lambda job, shard: blocked(shard, job.engine),
    raw=_raw, mpi=True)
