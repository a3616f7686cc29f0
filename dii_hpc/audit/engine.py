"""The audit engine: pure functions from an `AuditJob` to the result dict (levels I, II, III).

`compute(job)` is the one entry point, used in-process, by every MPI rank and by the merge
of a Slurm array alike; every decision is a record's (`specs`): level I runs the job's
`Suite`, level II its `AttackSpec`, level III the ``raw`` of the suite an ART class path
belongs to. Detection and segmentation are tasks like the others: the records run them. The
result has the shape the report renders (level, threat, task, suite|attack, grade, summary,
metrics, attacks, curves, sanity, examples, config, n_samples, params, manifest).
Persisting it as a run is `dii_hpc.audit.core.results.persist`'s job.
"""

from __future__ import annotations

from typing import Any

from dii_hpc.audit import specs
from dii_hpc.audit.core import data, randomness
from dii_hpc.audit.core.data import Generator, Prepared
from dii_hpc.audit.job import AuditJob
from dii_hpc.errors import BadInput


def compute(job: AuditJob, generator: Generator | None = None,
            examples_dir: str | None = None) -> dict[str, Any]:
    """Run one audit job and return its result dict."""
    prep = data.prepare(job)
    if job.level == "I":
        result = _suite(job, prep, generator, examples_dir)
    elif job.level == "II" or "." not in job.name:
        spec = job.attack()
        specs.check(spec, prep.model)
        result = attack_result(spec, specs.Call(job, prep, dict(job.params), generator))
    else:
        suite = job.suite()
        if suite.raw is None:
            raise BadInput(f"level III runs ART classes of {', '.join(job.raw_threats())}, "
                           f"not {suite.threat}")
        result = suite.raw(job, prep, generator)
    result["level"] = job.level
    result["config"] = job.record() | {"params": result.get("params", job.params)}
    result["manifest"] = data.manifest(job, prep) | {
        "randomness": randomness.manifest(prep.seed, result.get("attacks") or [])}
    return result


def _suite(job: AuditJob, prep: Prepared, generator: Generator | None,
           examples_dir: str | None) -> dict[str, Any]:
    from dii_hpc.audit.core.checkpoint import Checkpoint, for_job

    suite = job.suite()
    specs.check_suite_task(suite, prep.task)
    ck = for_job(job) if job.resume else Checkpoint(None)
    resumed = len(ck.done())
    out = suite.run(job, prep, generator, examples_dir, ck)
    ck.clear()
    return {"threat": suite.threat, "params": out.pop("params", {}), **out,
            "resumed_shards": resumed}


def attack_result(spec: specs.AttackSpec, call: specs.Call) -> dict[str, Any]:
    """Level II: one attack of the catalogue, its per-method result (no grade)."""
    from dii_hpc.audit.core.results import summary_line

    out = spec.run(spec, call)
    metrics = {k: v for k, v in out.record["metrics"].items() if not isinstance(v, list)}
    return {"threat": spec.threat, "task": call.prep.task.value, "attack": spec.name,
            "grade": None, "summary": out.summary or summary_line(spec.name, metrics),
            "metrics": metrics, "params": out.params or out.record["params"],
            "attacks": [out.record], "curves": out.curves, "sanity": out.sanity,
            "examples": [], "n_samples": int(out.n_samples), **out.extra}
