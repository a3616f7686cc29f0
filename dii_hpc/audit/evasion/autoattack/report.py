"""The AutoAttack evaluation's result section: metrics, per-attack records, curve, flags.

Same shape as the level I evasion suite's section (task, suite, grade, summary, metrics,
attacks, curves, sanity, examples, n_samples) plus `standard`, which names the standard,
its version and reference, its parameters and whether the number is comparable with
RobustBench. Per attack, `robust_accuracy` is the accuracy left after that attack and the
ones before it (AutoAttack's running report); `fooled` counts the samples it broke.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.audit.core import stats
from dii_hpc.audit.evasion.autoattack import checks
from dii_hpc.audit.model.protocols import Predictor


def _records(p: Any, merged: dict[str, Any], clean_ok: np.ndarray) -> tuple[
        list[dict[str, Any]], dict[str, float]]:
    from dii_hpc.audit.evasion.generate import jsonable

    still, after, records = clean_ok.copy(), {}, []
    for k, (name, (box, _, params)) in enumerate(p.steps.items()):
        broke = merged["fooled_by"] == k
        still &= ~broke
        after[name] = float(still.mean()) if len(still) else 0.0
        records.append({
            "name": name, "box": box, "engine": "torch",
            "params": jsonable({**params, "eps": p.eps, "norm": p.norm}),
            "metrics": {"clean_accuracy": float(clean_ok.mean()) if len(clean_ok) else 0.0,
                        "robust_accuracy": after[name], "fooled": int(broke.sum())},
            "intervals": {"robust_accuracy": stats.rate_interval(still)},
            "time_s": float(merged["times"].get(name, 0.0))})
    return records, after


def _metrics(merged: dict[str, Any], clean_ok: np.ndarray) -> dict[str, Any]:
    robust = merged["fooled_by"] == -1
    n = max(len(robust), 1)
    clean, rob = float(clean_ok.sum() / n), float(robust.sum() / n)
    return {"clean_accuracy": clean, "robust_accuracy": rob,
            "robust_accuracy_interval": stats.rate_interval(robust),
            "attack_success_rate": float((clean_ok & ~robust).sum() / max(clean_ok.sum(), 1)),
            "mean_perturbation_linf": float(merged["linf"].mean()) if len(robust) else 0.0,
            "mean_perturbation_l2": float(merged["l2"].mean()) if len(robust) else 0.0,
            "relative_robust_accuracy": rob / max(clean, 1e-12)}


def _sentence(p: Any, metrics: dict[str, Any], letter: str | None,
              sanity: list[dict[str, Any]]) -> str:
    std = p.describe()
    head = (f"{std['name']} v{std['version']} at {std['norm']} eps {p.eps_text}: clean "
            f"accuracy {metrics['clean_accuracy']:.1%} falls to "
            f"{metrics['robust_accuracy']:.1%} under {', '.join(p.steps)} (worst case per "
            f"sample, grade {letter})")
    if std["comparable"]:
        tail = "; comparable with RobustBench."
    else:
        why = std["deviations"] or ["a randomised model, evaluated with version 'rand'"]
        tail = f"; not comparable with RobustBench ({'; '.join(why)})."
    bad = [f["flag"] for f in sanity if not f["ok"]]
    return head + tail + (f" Untrustworthy signs: {', '.join(bad)}." if bad else "")


def summarise(model: Predictor, x: np.ndarray, y: np.ndarray, p: Any, merged: dict[str, Any],
              first: list[dict[str, Any]], shown: np.ndarray, x_adv: np.ndarray,
              examples_dir: str | None, multiples: tuple[float, ...]) -> dict[str, Any]:
    from dii_hpc.audit.evasion.suite import write_examples
    from dii_hpc.audit.model.protocols import Task

    clean_ok = merged["fooled_by"] != -2
    records, after = _records(p, merged, clean_ok)
    metrics = _metrics(merged, clean_ok)
    span = float(model.clip_values[1] - model.clip_values[0])
    curve = [{"eps": min(p.eps * m, span) if p.norm == np.inf else p.eps * m,
              "robust_accuracy": float(row.mean()) if len(row) else 0.0}
             for m, row in zip(multiples, merged["curve"], strict=False)]
    sanity = [*first, checks.zero_gradients(merged["zero_grad"][clean_ok],
                                            merged["vanishing"][clean_ok])]
    sanity += [f for f in (checks.black_box(after), checks.curve(curve)) if f is not None]
    from dii_hpc.audit.evasion.suite import GRADING

    letter = GRADING.grade(metrics["relative_robust_accuracy"])
    examples = write_examples(model, x[shown], y[shown], x_adv, examples_dir) \
        if examples_dir and len(shown) else []
    return {"task": Task.parse(model.task).value, "suite": "evasion",
            "standard": p.describe(), "grade": letter,
            "summary": _sentence(p, metrics, letter, sanity), "metrics": metrics,
            "attacks": records, "curves": {"robustness": curve}, "sanity": sanity,
            "examples": examples, "n_samples": int(len(x)),
            "params": {"standard": "autoattack", "eps": p.eps,
                       "norm": "inf" if p.norm == np.inf else 2}}

