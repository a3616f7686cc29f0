"""Contexts of the audit, drift-monitor and index pages (read from run.json sections)."""

from __future__ import annotations

import math
from typing import Any

from dii_hpc.report import display
from dii_hpc.report.charts import Series, line_chart, loglog_chart
from dii_hpc.report.pages import monitor_of
from dii_hpc.report.source import RunEntry

LATEST_AUDITS = 25


_TITLES = {"robustness": "Robustness curve", "backdoor": "Backdoor success by poisoned fraction",
           "label_flip": "Label flipping"}


def _table_curve(points: list[Any]) -> tuple[str, list[Series]] | None:
    """[{x: .., y1: .., y2: ..}, ...] -> x name and one series per other numeric field."""
    rows = [p for p in points if isinstance(p, dict)]
    if not rows:
        return None
    xkey = next(iter(rows[0]))
    ykeys = [k for k in rows[0] if k != xkey and display.number(rows[0][k]) is not None]
    series = [Series(k, _column(rows, xkey), _column(rows, k)) for k in ykeys]
    return (xkey, series) if series else None


def _column(rows: list[dict[str, Any]], key: str) -> list[Any]:
    """One field of every row; a row may miss it (Series draws only its finite points)."""
    return [r.get(key) for r in rows]


def _curve_charts(curves: dict[str, Any]) -> list[dict[str, Any]]:
    """Every saved curve except ROC, drawn from its points; nothing is recomputed."""
    charts = []
    for name, value in curves.items():
        if name == "roc":
            continue
        if isinstance(value, dict):  # {attack: [points]}: one series per attack
            parts = {k: _table_curve(v) for k, v in value.items() if isinstance(v, list)}
            series = [Series(str(k), p[1][0].x, p[1][0].y) for k, p in parts.items() if p]
            xkey = next((p[0] for p in parts.values() if p), "x")
            ylabel = next((p[1][0].label for p in parts.values() if p), "")
        elif isinstance(value, list):
            found = _table_curve(value)
            if not found:
                continue
            xkey, series = found
            ylabel = series[0].label if len(series) == 1 else ""
        else:
            continue
        if series:
            charts.append({"title": _TITLES.get(name, name.replace("_", " ")),
                           "svg": line_chart(series, xlabel=xkey, ylabel=ylabel, points=True)})
    return charts


def _roc_series(roc: dict[str, Any]) -> list[Series]:
    """The attack's ROC and, when saved beside it, its baseline's (the loss attack)."""
    out = []
    for curve, name in ((roc, "ROC"), (roc.get("baseline"), None)):
        if not isinstance(curve, dict) or not curve.get("fpr"):
            continue
        auc = display.fmt_num(display.number(curve.get("auc")))
        label = name or f"baseline {curve.get('name', '')}".strip()
        out.append(Series(f"{label} (AUC {auc})" if auc else label, curve.get("fpr") or [],
                          curve.get("tpr") or []))
    return out


def _roc(curves: dict[str, Any]) -> Any:
    roc = curves.get("roc")
    if not isinstance(roc, dict) or not roc.get("fpr"):
        return None
    return line_chart(_roc_series(roc), xlabel="false positive rate", ylabel="true positive rate",
                      xrange=(0.0, 1.0), yrange=(0.0, 1.0), diagonal=True, width=360, height=300)


def _roc_loglog(curves: dict[str, Any]) -> Any:
    """The ROC on log-log axes, for curves saved on a log grid of FPR (`axes: log`)."""
    roc = curves.get("roc")
    if not isinstance(roc, dict) or roc.get("axes") != "log" or not roc.get("fpr"):
        return None
    xs = [v for v in roc["fpr"] if display.number(v) is not None and v > 0]
    floor = 10 ** math.floor(math.log10(min(xs))) if xs else 1e-3
    return loglog_chart(_roc_series(roc), floor=floor, xlabel="false positive rate (log)",
                        ylabel="true positive rate (log)")


def audit_context(run: RunEntry, artifacts: list[dict[str, Any]],
                  partners: list[RunEntry] | None = None) -> dict[str, Any]:
    """The audit page; ``partners``: evasion audits of the same model, whose robustness a
    certification audit's page draws beside its certified curve (`report.certified`)."""
    from dii_hpc.records import audit as audit_record
    from dii_hpc.report import certified

    audit = audit_record.of(run.record) or audit_record.AuditSection()
    cert = certified.context(run.record, [p.record for p in partners or []])
    curves = {k: v for k, v in audit.curves.items()  # certified curves: drawn by `cert`
              if not (cert and k.endswith("certified_accuracy"))}
    by_name = {a["name"]: a for a in artifacts}
    by_base = {a["name"].rsplit("/", 1)[-1]: a for a in artifacts}
    examples = [by_name.get(n) or by_base.get(n.rsplit("/", 1)[-1])
                or {"name": n, "href": None, "image": False} for n in audit.examples]
    attacks = audit.attack_records()
    return {
        "run": run.record, "run_id": run.run_id, "name": display.display_name(run.record),
        "audit": audit, "attacks": attacks, "examples": examples,
        "attack_metrics": _union([a.get("metrics") or {} for a in attacks]),
        "curve_charts": _curve_charts(curves), "roc_svg": _roc(curves),
        "roc_loglog_svg": _roc_loglog(curves),
        "exposed": [(a["name"], a["exposed"]) for a in attacks if a.get("exposed")],
        "roc_auc": (curves.get("roc") or {}).get("auc") if isinstance(curves.get("roc"), dict)
        else None,
        "certified": cert, "sanity": audit.sanity + (cert["flags"] if cert else []),
    }


def _union(dicts: list[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for d in dicts:
        keys += [k for k in d if k not in keys]
    return keys


# --------------------------------------------------------------------------- drift
def drift_row(run: RunEntry) -> dict[str, Any]:
    from dii_hpc.records import drift as drift_record

    section = drift_record.read(run.record)
    row = {"id": run.run_id, "start": run.record.get("start_time"),
           "status": run.record.get("status"), "experiment": run.record.get("experiment"),
           "drift": None, "share": None, "rule": None, "n_reference": None, "n_current": None,
           "n_drifted": 0, "n_features": 0}
    if section is not None:
        row.update(drift=section.drift, share=display.number(section.share_drifted),
                   rule=section.rule, n_reference=section.n_reference,
                   n_current=section.n_current, n_features=len(section.features),
                   n_drifted=sum(1 for f in section.features.values() if f.drift))
    return row


def monitors(runs: list[RunEntry]) -> dict[str, list[RunEntry]]:
    groups: dict[str, list[RunEntry]] = {}
    for run in runs:
        if run.kind == "drift":
            groups.setdefault(monitor_of(run), []).append(run)
    for group in groups.values():
        group.sort(key=lambda r: (r.start, r.run_id))
    return dict(sorted(groups.items()))


def _time_axis(times: list[Any]) -> Any:
    """Tick labels for epoch seconds: clock time within a day, dates beyond."""
    values = [t for t in times if display.number(t) is not None]
    span = (max(values) - min(values)) if values else 0.0
    if span < 600:
        return lambda t: display.fmt_time(t)[11:19]
    return (lambda t: display.fmt_time(t)[11:16]) if span < 86400 else (
        lambda t: display.fmt_time(t)[5:16])


def monitor_context(name: str, runs: list[RunEntry]) -> dict[str, Any]:
    from dii_hpc.records import drift as drift_record

    rows = [drift_row(r) for r in runs]
    latest = drift_record.read(runs[-1].record) if runs else None
    times = [r["start"] for r in rows if display.number(r["start"]) is not None]
    by_time = len(times) == len(rows) and len(rows) > 1 and max(times) - min(times) >= 120
    xs = [r["start"] for r in rows] if by_time else list(range(1, len(rows) + 1))
    trend = line_chart(
        [Series("share of drifted features", xs, [r["share"] for r in rows],
                marks=[bool(r["drift"]) for r in rows])],
        xlabel="time (UTC)" if by_time else "check", ylabel="share drifted", yrange=(0.0, 1.0),
        points=True, width=720,
        xfmt=_time_axis(times) if by_time else (lambda t: f"#{round(t)}" if abs(t - round(t)) < 1e-6 else ""),
    ) if rows else None
    from dii_hpc.report import monitoring

    checks = [drift_record.read(r.record) for r in runs]
    for row, check in zip(rows, checks, strict=True):
        row["reasons"] = monitoring.reasons(check)
    return {"name": name, "rows": list(reversed(rows)), "trend": trend,
            "latest": latest.dump() if latest is not None else {},
            "latest_id": runs[-1].run_id if runs else None,
            "performance": monitoring.performance(
                checks, xs, "time (UTC)" if by_time else "check",
                _time_axis(times) if by_time else (lambda t: f"#{round(t)}" if abs(t - round(t)) < 1e-6 else "")),
            "quality": monitoring.quality(latest), "reasons": monitoring.reasons(latest)}


# --------------------------------------------------------------------------- index
def index_context(by_exp: dict[str, list[RunEntry]]) -> dict[str, Any]:
    from dii_hpc.records import audit as audit_record

    everything = [r for runs in by_exp.values() for r in runs]
    experiments = [{"name": name, "n": len(runs), "counts": display.status_counts(runs),
                    "last": max((r.start for r in runs), default=None),
                    "kinds": sorted({r.kind for r in runs})}
                   for name, runs in by_exp.items()]
    audits = sorted((r for r in everything if r.kind == "audit"),
                    key=lambda r: (r.start, r.run_id), reverse=True)[:LATEST_AUDITS]
    audit_rows = [{"id": r.run_id, "name": display.display_name(r.record),
                   "experiment": r.record.get("experiment"), "status": r.record.get("status"),
                   "start": r.record.get("start_time"),
                   "a": audit_record.of(r.record) or audit_record.AuditSection()}
                  for r in audits]
    monitor_rows = [{"name": name, "n": len(group), **drift_row(group[-1])}
                    for name, group in monitors(everything).items()]
    return {"experiments": experiments, "audits": audit_rows, "monitors": monitor_rows,
            "deployments": deployment_rows(everything), "n_runs": len(everything)}


def deployment_rows(runs: list[RunEntry]) -> list[dict[str, Any]]:
    """Batch-inference jobs (kind "inference"), newest first: throughput and last drift."""
    rows = []
    for r in sorted((r for r in runs if r.kind == "inference"),
                    key=lambda r: (r.start, r.run_id), reverse=True)[:LATEST_AUDITS]:
        inf = display.as_dict(r.record.get("inference"))
        drift = display.as_dict(inf.get("last_drift"))
        rows.append({"id": r.run_id, "experiment": r.record.get("experiment"),
                     "status": r.record.get("status"), "start": r.record.get("start_time"),
                     "model": inf.get("model"), "model_run": inf.get("model_run"),
                     "rows": inf.get("rows"), "rows_per_s": display.number(inf.get("rows_per_s")),
                     "shards": inf.get("shards"), "monitor": inf.get("monitor"),
                     "drift": drift.get("drift") if drift else None})
    return rows
