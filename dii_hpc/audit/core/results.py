"""What happens to a result: a run of kind "audit", a JSON file, JUnit XML, thresholds.

The engine returns plain dicts; this module is the only one that touches the store, so the
engine stays testable (and MPI ranks never write to the shared filesystem).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput
from dii_hpc.records import audit as audit_record

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.job import AuditJob
    from dii_hpc.store.store import StoreLike


def persist(result: dict[str, Any], examples_dir: str | None = None,
            store: StoreLike = None, run: Any = None) -> str:
    """Store the audit as a run (kind "audit", linked to `parent_run`); returns its id.
    ``run``: the audit's run, already open (`AuditRun`), that the result goes into."""
    from dii_hpc.tracking.run import start_run

    cfg = result.get("config", {})
    params = opening_params(cfg, result["level"], result["threat"],
                            result.get("suite") or result.get("attack"))
    params |= {"n_samples": result.get("n_samples")}
    params |= {f"attack.{k}": _scalar(v) for k, v in (result.get("params") or {}).items()}
    if run is not None:
        run.log_params(params)
        return _write(run, result, examples_dir)
    with start_run(cfg.get("experiment", "audit"), kind="audit", params=params,
                   tags={"level": result["level"], "threat": result["threat"]},
                   store=store, parent_run=cfg.get("parent_run")) as opened:
        return _write(opened, result, examples_dir)


def opening_params(cfg: dict[str, Any], level: str, threat: str, name: Any) -> dict[str, Any]:
    """The params an audit run has from its start (the result adds n_samples, attack.*);
    ``cfg``: the config as the result records it (`AuditJob.record`)."""
    return {"level": level, "threat": threat, "name": name, "model": _ref(cfg.get("model")),
            "data": _ref(cfg.get("data")), "seed": cfg.get("seed", 0)}


def create_pending(job: AuditJob, store: StoreLike = None) -> str:
    """The run of an audit whose jobs are queued (`placement.chain.submit`): PENDING until
    the job that computes it opens it (`AuditRun`)."""
    from dii_hpc.store.store import Store

    st = store if isinstance(store, Store) else Store(store)
    return st.create_run(job.experiment, kind="audit",
                         params=opening_params(job.record(), job.level, job.threat, job.name),
                         tags={"level": job.level, "threat": job.threat}, status="PENDING",
                         fields={"parent_run": job.parent_run} if job.parent_run else None)


def _write(run: Any, result: dict[str, Any], examples_dir: str | None) -> str:
    cfg = result.get("config", {})
    run.log_metrics(numeric(result.get("metrics", {})))
    for i, record in enumerate(result.get("attacks", [])):
        run.log_metrics({f"attack/{record['name']}/{k}": v
                         for k, v in numeric(record.get("metrics", {})).items()}, step=i)
    for name_ in result.get("examples", []):
        if examples_dir and (Path(examples_dir) / name_).is_file():
            run.log_artifact(Path(examples_dir) / name_, name=name_)
    run.log_dict("audit.json", clean_json(result))
    run.set_sections({audit_record.SECTION: audit_record.section(result, run.id)},
                     result.get("manifest", {}))
    from dii_hpc.registry import uri

    uri.attach(cfg.get("model"), "audit", run.id, run.store)  # an audit of a registered version
    return str(run.id)


class AuditRun:
    """The audit's run while jobs compute for it, so that `dii-hpc status` and `cancel` see
    the audit before its result exists: opened (RUNNING, its writer this process) when the
    audit first submits an array (`open`), or at once when the job names the run (the chain's
    merge job: `placement.chain.submit` created it PENDING). `persist` writes the result into it;
    an exception ends it FAILED with its line, `dii-hpc cancel` CANCELLED. Without
    ``persist`` (--no-store) there is no run."""

    def __init__(self, job: AuditJob, persist: bool = True) -> None:
        self.job, self.persist = job, persist
        self.run: Any = None

    def __enter__(self) -> AuditRun:
        if self.job.run_id:
            self.open()
        return self

    def open(self) -> Any:
        """The audit's run, opened on first use (None without ``persist``)."""
        if self.run is None and self.persist:
            from dii_hpc.tracking.run import start_run

            job = self.job
            self.run = start_run(job.experiment, kind="audit",
                                 params=opening_params(job.record(), job.level, job.threat,
                                                       job.name),
                                 tags={"level": job.level, "threat": job.threat},
                                 parent_run=job.parent_run, run_id=job.run_id)
        return self.run

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self.run is None:
            return
        if isinstance(exc, Exception) and self.run.cancel_requested():
            from dii_hpc.tracking.ending import CANCELLED_BY_USER
            from dii_hpc.vocabulary import CANCELLED

            self.run.finish(CANCELLED, CANCELLED_BY_USER)
        self.run.__exit__(exc_type, exc, tb)


def _ref(ref: Any) -> str | None:
    if ref is None or isinstance(ref, str):
        return ref
    return str(ref.get("factory", ref)) if isinstance(ref, dict) else str(ref)


def _scalar(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool, type(None))) else json.dumps(v)


def numeric(metrics: dict[str, Any]) -> dict[str, float]:
    """The finite numbers among `metrics` (intervals and lists are not metrics)."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[k] = float(v)
    return out


def clean_json(obj: Any) -> Any:
    """numpy scalars -> Python, inf/nan -> strings: strict JSON that every reader accepts
    (the store's one rule, `store.atomic.standard`)."""
    from dii_hpc.store.atomic import standard

    return standard(obj)


def write_json(path: str, result: dict[str, Any]) -> None:
    from dii_hpc.store.atomic import dumps, write_bytes

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, dumps(result, indent=2, sort_keys=True))


def parse_thresholds(items: list[str] | None, option: str) -> dict[str, float]:
    """["robust_accuracy=0.3"] -> {"robust_accuracy": 0.3}; a bad item is a one-line error."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        number = finite_number(value.strip()) if sep else None
        if number is None or not key.strip():
            raise BadInput(f"{option} {item!r}: expected METRIC=NUMBER (a finite number)")
        out[key.strip()] = number
    return out


def finite_number(value: Any) -> float | None:
    """A threshold as a float: a finite number (or its text), else None (nan never compares)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def breaches(result: dict[str, Any], under: dict[str, float],
             over: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Thresholds that fail: metric < floor (fail-under) or metric > ceiling (fail-over)."""
    metrics = result.get("metrics", {})
    out = []
    for bound, sign in ((under, "<"), (over or {}, ">")):
        for key, limit in bound.items():
            if key not in metrics or not isinstance(metrics[key], (int, float)):
                known = ", ".join(sorted(numeric(metrics)))
                raise BadInput(f"threshold metric {key!r} is not in this result; "
                               f"metrics: {known}")
            value = float(metrics[key])
            failed = value < limit if sign == "<" else value > limit
            out.append({"metric": key, "value": value, "limit": limit, "op": sign,
                        "failed": failed})
    return out


def write_junit(path: str, result: dict[str, Any], checks: list[dict[str, Any]]) -> None:
    """JUnit XML: one testcase per attack and per threshold, failures where breached."""
    from dii_hpc import junit
    from dii_hpc.store.atomic import dumps

    name = result.get("suite") or result.get("attack")
    cls = f"dii_hpc.audit.{result['threat']}"
    cases = [junit.Case(str(record["name"]), cls, float(record.get("time_s", 0.0)),
                        output=dumps(record["metrics"], indent=None).decode())
             for record in result.get("attacks", [])]
    for check in checks:
        msg = f"{check['metric']}={check['value']!r} {check['op']} {check['limit']!r}"  # exact
        cases.append(junit.Case(f"{check['metric']} {'>=' if check['op'] == '<' else '<='} "
                                f"{check['limit']:g}", cls,
                                failure=msg if check["failed"] else None))
    junit.write(path, f"dii-hpc audit {name}", cases)


def summary_line(name: str, metrics: dict[str, Any]) -> str:
    """A level II/III result's one-line summary: its first headline metrics."""
    keys = [k for k in ("clean_accuracy", "robust_accuracy", "auc", "balanced_accuracy",
                        "attack_success_rate", "precision", "recall", "clean_mae", "adv_mae")
            if k in metrics][:3]
    body = ", ".join(f"{k} {metrics[k]:.3f}" for k in keys)
    return f"{name}: {body}." if body else f"{name} finished."
