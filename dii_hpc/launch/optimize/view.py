"""What `dii-hpc sweep show EXP` says about a study: its trials, the best one, the
optimisation history (best so far by trial) and Optuna's own parameter importances.

Read-only: the journal is read, nothing is recovered or told (that is the workers' and
`resubmit`'s business), so looking at a study never races its workers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput
from dii_hpc.launch.optimize import samplers
from dii_hpc.launch.optimize import study as studymod

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


def summary(store: Store, experiment: str) -> dict[str, Any]:
    """The study of ``experiment`` as plain data (the CLI prints it, --format json dumps it)."""
    store.check_experiment_exists(experiment)
    spec = studymod.read_spec(store, experiment)
    if spec is None:
        raise BadInput(f"experiment {experiment} has no study: it was not submitted with "
                       "sweep.optimize")
    study = studymod.open_study(store, experiment, spec)
    trials = study.get_trials(deepcopy=False)
    runs = {r["run_id"]: r for r in store.records(experiment)}
    counts = studymod.tally(trials)
    rows = _rows(trials, runs, spec["direction"])
    best = _best(rows, spec["direction"])
    return {"experiment": experiment, "metric": spec["metric"], "direction": spec["direction"],
            "sampler": spec["sampler"], "pruner": spec["pruner"],
            "n_trials": int(spec["n_trials"]), "parallel": int(spec["parallel"]),
            "space": spec["space"], "counts": vars(counts) | {"done": counts.done},
            "best": best, "trials": rows,
            "importances": importances(study, counts.complete),
            "error": study.user_attrs.get("error")}


def _rows(trials: list[Any], runs: dict[str, dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    better = max if direction == "maximize" else min
    best_so_far: float | None = None
    out = []
    for t in sorted(trials, key=lambda t: t.number):
        value = t.value if t.state.name == "COMPLETE" else None
        if value is not None and math.isfinite(value):
            best_so_far = value if best_so_far is None else better(best_so_far, value)
        rid = t.user_attrs.get("run_id")
        run = runs.get(rid or "", {})
        duration = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        out.append({"number": t.number, "state": t.state.name, "value": value,
                    "best_so_far": best_so_far, "params": dict(t.params), "run_id": rid,
                    "run_status": run.get("status"), "duration_s": duration,
                    "retry_of": t.user_attrs.get("retry_of"), "lost": t.user_attrs.get("lost"),
                    "error": t.user_attrs.get("error"),
                    "pruned_at": t.last_step if t.state.name == "PRUNED" else None})
    return out


def _best(rows: list[dict[str, Any]], direction: str) -> dict[str, Any] | None:
    done = [r for r in rows if r["value"] is not None and math.isfinite(r["value"])]
    if not done:
        return None
    pick = max if direction == "maximize" else min
    return pick(done, key=lambda r: r["value"])


def importances(study: Any, complete: int) -> dict[str, float] | None:
    """Optuna's fANOVA importances (named: Optuna's default evaluator changed to PED-ANOVA,
    which gives every param the same share when a study has few trials); None below two
    complete trials or when they fail (e.g. every complete trial has the same params)."""
    if complete < 2:
        return None
    optuna = samplers.optuna_module()
    try:
        found = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError, ImportError, ZeroDivisionError):
        return None
    return {k: float(v) for k, v in found.items()}
