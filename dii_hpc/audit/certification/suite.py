"""Level I certification suite: randomized smoothing (and interval bounds where the model's
layers allow), graded by certified accuracy at the config's radius.

Shards (`placement.slurm` makes them one array plus the merge; `checkpoint` resumes them):
``smoothing-s<i>of<k>-n<j>of<m>``: samples part i of k (``sample_shards: k``, contiguous
runs of the evaluation sample), noise part j of m (``params: {noise_shards: m}``: for large
n, a sample's estimation draws split on `smoothing.CHUNK` boundaries). A shard keeps integer
class counts (estimation; selection and the base class in noise part 0), which the merge
adds up, so every split gives the numbers of one process. ``attack-interval_bounds``: bound
propagation (`certification.interval`, when that module is installed), one shard.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc import progress
from dii_hpc.audit.certification import noise_training
from dii_hpc.audit.certification import smoothing as sm
from dii_hpc.audit.core.checkpoint import Checkpoint, cached
from dii_hpc.audit.model.protocols import Task
from dii_hpc.audit.specs import Call, Facts, Grading, Shape, Suite, shape_of

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.core.data import Generator, Prepared
    from dii_hpc.audit.job import AuditJob

GRADING = Grading("certified_accuracy", (0.7, 0.5, 0.3, 0.1), higher_is_better=True,
                  doc="certified accuracy of the smoothed classifier at the config's L2 "
                      "radius (params: radius, default 25% of the data's range)")
INTERVAL = "attack-interval_bounds"


def interval_module() -> Any:
    """`certification.interval` when installed with its two names (see the package doc)."""
    import importlib

    try:
        module = importlib.import_module("dii_hpc.audit.certification.interval")
    except ModuleNotFoundError as err:
        if err.name != "dii_hpc.audit.certification.interval":
            raise
        return None
    ok = hasattr(module, "INTERVAL_BOUNDS") and callable(getattr(module, "unsupported", None))
    return module if ok else None


def params(job: AuditJob) -> dict[str, Any]:
    """The suite's params: the config's ``params`` (and a job's own over them)."""
    return {**job.config.params, **job.params}


def _smoothing_params(job: AuditJob, shape: Shape) -> sm.Settings:
    """The params that smoothing takes (the others are interval_bounds')."""
    known = sm.defaults(shape)
    return sm.settings(shape, {k: v for k, v in params(job).items() if k in known})


def attacks(job: AuditJob) -> list[str]:
    """smoothing and interval_bounds (when installed); the config's ``attacks`` may drop
    interval_bounds (smoothing grades the suite)."""
    from dii_hpc.errors import BadInput

    full = ["smoothing", *(["interval_bounds"] if interval_module() is not None else [])]
    chosen = job.config.attacks or full
    unknown = [a for a in chosen if a not in full]
    if unknown or "smoothing" not in chosen:
        raise BadInput(f"suite certification: attacks {chosen}: it grades on smoothing, "
                       f"which it always runs; suite attacks: {', '.join(full)}")
    return [a for a in full if a in chosen]


def shard_keys(job: AuditJob) -> list[str]:
    """Sample parts x noise parts of smoothing, then interval bounds' one shard."""
    names = attacks(job)
    k = job.config.sample_shards
    m = sm._count({"noise_shards": params(job).get("noise_shards", 1)}, "noise_shards")
    keys = [f"smoothing-s{i}of{k}-n{j}of{m}" for i in range(k) for j in range(m)]
    return keys + ([INTERVAL] if "interval_bounds" in names else [])


def parse(shard: str) -> tuple[int, int, int, int]:
    """"smoothing-s1of4-n0of2" -> (1, 4, 0, 2)."""
    s_part, n_part = shard.removeprefix("smoothing-").split("-")
    i, k = s_part[1:].split("of")
    j, m = n_part[1:].split("of")
    return int(i), int(k), int(j), int(m)


def span(n: int, part: int, parts: int) -> tuple[int, int]:
    """Samples [lo, hi) of part ``part`` of ``parts`` (empty past n)."""
    ids = np.array_split(np.arange(n), parts)[part]
    return (int(ids[0]), int(ids[-1]) + 1) if len(ids) else (n, n)


def compute_shard(job: AuditJob, prep: Prepared, shard: str, ck: Checkpoint
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One shard, computed or loaded from ``ck``."""
    if shard == INTERVAL:
        return cached(ck, shard, lambda: _interval(job, prep))
    return cached(ck, shard, lambda: _smoothing_part(job, prep, shard))


def _smoothing_part(job: AuditJob, prep: Prepared, shard: str
                    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from dii_hpc.audit.evasion.torch_engine.target import to_task_device

    s = _smoothing_params(job, shape_of(prep.model))
    i, k, j, m = parse(shard)
    t0 = time.perf_counter()
    model, trained = noise_training.model_for(prep, s)
    to_task_device(model)
    lo, hi = span(len(prep.x), i, k)
    arrays = sm.tally(model, prep.x, prep.seed, s, lo, hi, j, m)
    return {"lo": lo, "hi": hi, "time_s": time.perf_counter() - t0, "trained": trained}, arrays


def _interval(job: AuditJob, prep: Prepared) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    module = interval_module()
    why = module.unsupported(prep.model)
    if why:
        return {"name": "interval_bounds", "skipped": str(why)}, {}
    spec = module.INTERVAL_BOUNDS
    known = spec.defaults(shape_of(prep.model))
    out = spec.run(spec, Call(job, prep, {k: v for k, v in params(job).items() if k in known}))
    return out.record | {"curves": out.curves}, {}


def merge(job: AuditJob, prep: Prepared, ck: Checkpoint) -> dict[str, Any]:
    """Every shard (computed here when missing) into the suite's result."""
    s = _smoothing_params(job, shape_of(prep.model))
    keys = shard_keys(job)
    found: dict[str, tuple[dict[str, Any], dict[str, np.ndarray]]] = {}
    with progress.bar("certification suite: shards", len(keys)) as bar:
        for key in keys:
            found[key] = compute_shard(job, prep, key, ck)
            bar.advance()
    parts, time_s, trained = _add_up(found, sm.n_classes(prep.model))
    out = sm.outcome(np.asarray(prep.y), parts, s, prep.seed, time_s, trained)
    result = {"task": prep.task.value, "suite": "certification",
              "metrics": dict(out.record["metrics"]), "attacks": [out.record],
              "curves": dict(out.curves), "sanity": list(out.sanity),
              "examples": [], "n_samples": int(len(prep.x)), "samples": out.extra["samples"],
              "params": s.record(), "intervals": out.record["intervals"]}
    if INTERVAL in found:
        _join_interval(result, found[INTERVAL][0])
    letter = GRADING.grade(result["metrics"]["certified_accuracy"])
    result["grade"] = letter
    result["summary"] = f"{out.summary} Grade {letter}."
    return result


def _add_up(found: dict[str, tuple[dict[str, Any], dict[str, np.ndarray]]], classes: int
            ) -> tuple[dict[str, np.ndarray], float, dict[str, Any] | None]:
    """Sample parts in order, each part's noise shards summed."""
    by_span: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    time_s, trained = 0.0, None
    for key, (record, arrays) in found.items():
        if key == INTERVAL:
            continue
        time_s += float(record["time_s"])
        trained = record.get("trained") or trained
        got = by_span.setdefault((record["lo"], record["hi"]), {})
        got["est"] = got.get("est", 0) + arrays["est"]
        got.update({name: arrays[name] for name in ("sel", "base") if name in arrays})
    ordered = [by_span[k] for k in sorted(by_span)]
    parts = {name: np.concatenate([p[name].reshape(-1, classes) if name != "base" else p[name]
                                   for p in ordered])
             for name in ("est", "sel", "base")}
    return parts, time_s, trained


def _join_interval(result: dict[str, Any], record: dict[str, Any]) -> None:
    """Interval bounds beside smoothing: its record, metrics as ``interval_bounds.<name>``."""
    if "skipped" in record:
        result["sanity"].append({"flag": "interval_bounds_skipped", "ok": True,
                                 "detail": str(record["skipped"])})
        return
    curves = record.pop("curves", {}) or {}
    result["attacks"].append(record)
    result["metrics"] |= {f"interval_bounds.{k}": v for k, v in record["metrics"].items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool)}
    result["curves"] |= {f"interval_bounds.{k}": v for k, v in curves.items()}


# ---- the suite's record -----------------------------------------------------------------------
def _run(job: AuditJob, prep: Prepared, generator: Generator | None, examples_dir: str | None,
         ck: Checkpoint) -> dict[str, Any]:
    return merge(job, prep, ck)


def _plan(job: AuditJob, facts: Facts) -> list[str]:
    return shard_keys(job)


def _compute(job: AuditJob, prep: Prepared, shard: str, ck: Checkpoint,
             generator: Generator | None) -> None:
    compute_shard(job, prep, shard, ck)


def _check(job: AuditJob) -> None:
    """The smoothing params, checked before anything loads (their values; the defaults
    are scaled when the model's range is known)."""
    _smoothing_params(job, Shape(Task.IMAGE_CLASSIFICATION, (0.0, 1.0), (1,)))
    shard_keys(job)


CERTIFICATION = Suite(
    "certification", "certification",
    "randomized smoothing (Cohen et al.'s CERTIFY; samples and noise batches as array tasks), "
    "interval bounds where the model's layers allow; graded by certified accuracy at the "
    "config's L2 radius", sm.TASKS, GRADING, _run, _plan, _compute, check=_check)
