"""The model pages: versions, aliases and their history, lineage and two versions' audits.

Everything comes from what the registry saved under ``<store>/models/`` and from run records
already loaded for the rest of the site; nothing is recomputed. Lineage reads left to right:
data (the training run's inputs) -> training run -> version -> audits -> deployments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dii_hpc.records import audit
from dii_hpc.records.audit import AuditSection
from dii_hpc.report import display
from dii_hpc.report.charts import Series, line_chart
from dii_hpc.report.source import RunEntry

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.report.source import StoreReader


def load(store: StoreReader) -> dict[str, dict[str, Any]]:
    """name -> the registry's saved view of the model (versions in full, aliases, history)."""
    from dii_hpc.registry.registry import Registry

    reg = Registry(store.root)
    out = {}
    for name in reg.names():
        shown = reg.show(name)
        shown["versions"] = [reg.version(name, v["version"]) for v in shown["versions"]]
        out[name] = shown
    return out


def linked_runs(model: dict[str, Any]) -> list[str]:
    ids = []
    for v in model["versions"]:
        ids += [v["run_id"], *v["audits"], *v["deployments"]]
    return ids


def index_rows(models: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": name, "versions": len(m["versions"]),
             "latest": max((v["version"] for v in m["versions"]), default=None),
             "aliases": m["aliases"],
             "updated": max((v.get("created") or 0 for v in m["versions"]), default=None)}
            for name, m in models.items()]


def _audit_of(entry: RunEntry | None) -> AuditSection | None:
    return audit.of(entry.record) if entry else None


def _audit_rows(version: dict[str, Any], runs: dict[str, RunEntry]) -> list[dict[str, Any]]:
    rows = []
    for rid in version["audits"]:
        entry = runs.get(rid)
        found = _audit_of(entry)
        rows.append({"id": rid, "known": entry is not None, "what": found.label if found else "",
                     "grade": found.grade if found else None,
                     "level": found.level if found else None,
                     "status": entry.record.get("status") if entry else None,
                     "start": entry.record.get("start_time") if entry else None,
                     "page": found is not None})
    return rows


def _deployment_rows(version: dict[str, Any], runs: dict[str, RunEntry]) -> list[dict[str, Any]]:
    rows = []
    for rid in version["deployments"]:
        entry = runs.get(rid)
        inf = (entry.record.get("inference") if entry else None) or {}
        rows.append({"id": rid, "known": entry is not None, "rows": inf.get("rows"),
                     "status": entry.record.get("status") if entry else None,
                     "start": entry.record.get("start_time") if entry else None})
    return rows


def _version_row(v: dict[str, Any], runs: dict[str, RunEntry]) -> dict[str, Any]:
    decisions = v.get("decisions") or []
    return {"version": v["version"], "status": v["status"], "aliases": v["aliases"],
            "created": v.get("created"), "user": v.get("user"), "run_id": v["run_id"],
            "run_known": v["run_id"] in runs, "experiment": v.get("experiment"),
            "code": v.get("code") or {}, "weights": v["weights"], "loader": v["loader"],
            "inputs": v.get("inputs") or {}, "description": v.get("description"),
            "audits": _audit_rows(v, runs), "deployments": _deployment_rows(v, runs),
            "last_decision": decisions[-1] if decisions else None}


def _pair(model: dict[str, Any]) -> tuple[int, int] | None:
    """The two versions compared: the alias holder (champion first) against the latest."""
    numbers = [v["version"] for v in model["versions"]]
    if len(numbers) < 2:
        return None
    latest = max(numbers)
    held = model["aliases"]
    base = held.get("champion") or next(iter(held.values()), None)
    if base is None or base == latest:
        base = max(n for n in numbers if n != latest)
    return base, latest


def _newest_audits(version: dict[str, Any], runs: dict[str, RunEntry]) -> dict[str, RunEntry]:
    out: dict[str, RunEntry] = {}
    for rid in version["audits"]:
        entry = runs.get(rid)
        found = _audit_of(entry)
        if entry is None or found is None:
            continue
        key = found.label
        if key not in out or entry.start >= out[key].start:
            out[key] = entry
    return out


def _curve_points(value: Any) -> tuple[str, str, list[Any], list[Any]] | None:
    rows = [p for p in value if isinstance(p, dict)] if isinstance(value, list) else []
    if not rows:
        return None
    xkey = next(iter(rows[0]))
    ykey = next((k for k in rows[0] if k != xkey and display.number(rows[0][k]) is not None), None)
    if ykey is None:
        return None
    return xkey, ykey, [r.get(xkey) for r in rows], [r.get(ykey) for r in rows]


def _overlaid(audits: dict[int, AuditSection]) -> list[dict[str, Any]]:
    """One chart per saved curve, a series per version (ROC curves on the unit square)."""
    names: list[str] = []
    for found in audits.values():
        names += [n for n in found.curves if n not in names]
    charts = []
    for name in names:
        series, xlabel, ylabel = [], "", ""
        for v, found in audits.items():
            curve = found.curves.get(name)
            if name == "roc" and isinstance(curve, dict) and curve.get("fpr"):
                series.append(Series(f"v{v}", curve["fpr"], curve.get("tpr") or []))
                xlabel, ylabel = "false positive rate", "true positive rate"
            elif (points := _curve_points(curve)) is not None:
                xlabel, ylabel, xs, ys = points
                series.append(Series(f"v{v}", xs, ys))
        if not series:
            continue
        roc = name == "roc"
        charts.append({"title": "ROC" if roc else name.replace("_", " "),
                       "svg": line_chart(series, xlabel=xlabel, ylabel=ylabel, points=not roc,
                                         xrange=(0.0, 1.0) if roc else None,
                                         yrange=(0.0, 1.0) if roc else None, diagonal=roc)})
    return charts


def _comparison(model: dict[str, Any], runs: dict[str, RunEntry]) -> dict[str, Any] | None:
    pair = _pair(model)
    if pair is None:
        return None
    by_v = {v["version"]: v for v in model["versions"]}
    newest = {n: _newest_audits(by_v[n], runs) for n in pair}
    blocks = []
    for key in sorted(set(newest[pair[0]]) | set(newest[pair[1]])):
        audits = {n: _audit_of(newest[n].get(key)) or AuditSection() for n in pair}
        metrics: list[str] = []
        for found in audits.values():
            metrics += [m for m, v in found.metrics.items()
                        if m not in metrics and display.number(v) is not None]
        blocks.append({"what": key, "runs": {n: newest[n][key].run_id if key in newest[n] else None
                                             for n in pair},
                       "grades": {n: audits[n].grade for n in pair},
                       "rows": [{"metric": m, "values": {n: audits[n].metrics.get(m)
                                                         for n in pair},
                                 "lower": display.lower_is_better(m)} for m in metrics],
                       "charts": _overlaid({n: audits[n] for n in pair if key in newest[n]})})
    return {"versions": list(pair), "blocks": blocks}


def context(name: str, model: dict[str, Any], runs: dict[str, RunEntry]) -> dict[str, Any]:
    history = [e for e in model["history"] if e.get("event") in ("alias", "archive", "restore")]
    decisions = [e for e in model["history"] if e.get("event") == "decision"]
    return {"name": name, "aliases": model["aliases"],
            "versions": [_version_row(v, runs) for v in reversed(model["versions"])],
            "history": list(reversed(history)), "decisions": list(reversed(decisions)),
            "comparison": _comparison(model, runs)}
