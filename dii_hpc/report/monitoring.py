"""The monitor page's production parts: performance over time, data quality, alert reasons.

Read from each check's drift section only (`records.drift`): estimated performance with its
band and the realized value beside it (once `drift score` or `--labels` gave labels), over the
checks and over the latest check's chunks; the latest check's data-quality rules per column;
and for every check the reasons it alerted, in words a person acts on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from markupsafe import Markup

from dii_hpc.records.drift import DriftSection, Estimate
from dii_hpc.report.charts import Series, line_chart

MAIN = {"classification": ("accuracy", "f1", "roc_auc"), "regression": ("mae", "rmse")}


def reasons(section: DriftSection | None) -> list[str]:
    """Why a check alerted: drifted features, predictions, performance, data quality."""
    if section is None:
        return []
    out = []
    drifted = [name for name, f in section.features.items() if f.drift]
    if drifted and (section.data_drift if section.data_drift is not None else section.drift):
        out.append(f"data drift: {', '.join(drifted[:6])}{' ...' if len(drifted) > 6 else ''} "
                   f"({section.n_drifted}/{section.n_features}, rule {section.rule})")
    out += [f"multivariate {key}: p {part.p_value:.3g}" for key, part in
            section.multivariate.items() if part.drift and part.p_value is not None]
    if section.prediction is not None and section.prediction.drift:
        out.append(f"prediction drift ({section.prediction.test} "
                   f"{section.prediction.statistic:.3g})")
    perf = section.performance
    if perf is not None:
        out += [f"performance: {m} dropped beyond {perf.max_drop}" for m in perf.degraded]
        out += _performance_alerts(perf)
    out += [f"data quality: {q.rule}" + (f" on {q.column}" if q.column else "")
            + f" ({q.detail})" for q in section.quality_failures()]
    return out


def _performance_alerts(perf: Any) -> list[str]:
    """One line per kind (estimated, realized): the first metric out of the reference's band
    with its value and limit, how many chunks alerted, and the other metrics that did."""
    out = []
    for what in ("estimated", "realized"):
        batch: dict[str, Estimate] = getattr(perf, what)
        hit = {m: sum(1 for c in perf.chunks if (e := getattr(c, what).get(m)) and e.alert)
               for m in batch}
        bad = [m for m, e in batch.items() if e.alert or hit[m]]
        if not bad:
            continue
        first, est = bad[0], batch[bad[0]]
        side = "above" if first in MAIN["regression"] else "below"
        where = f"; {hit[first]} of {len(perf.chunks)} chunks" if perf.chunks else ""
        head = (f"{est.value:.4g} {side} the limit {est.limit:.4g}" if est.alert
                else "out of band") + where
        more = f"; also {', '.join(bad[1:])}" if bad[1:] else ""
        out.append(f"performance: {what} {first} {head}{more}")
    return out


def _values(found: list[dict[str, Estimate]], metric: str) -> tuple[list, list, list, list]:
    got = [f.get(metric) for f in found]
    return ([e.value if e else None for e in got], [e.lower if e else None for e in got],
            [e.upper if e else None for e in got], [bool(e and e.alert) for e in got])


def _chart(metric: str, xs: list[Any], est: list[dict[str, Estimate]],
           real: list[dict[str, Estimate]], xlabel: str, xfmt: Callable[[float], str]) -> Markup:
    value, lo, hi, alert = _values(est, metric)
    rvalue, _, _, ralert = _values(real, metric)
    series = [Series(f"estimated {metric} (band: 3 sampling errors)", xs, value, marks=alert,
                     band=(lo, hi))]
    if any(v is not None for v in rvalue):
        series.append(Series(f"realized {metric}", xs, rvalue, marks=ralert))
    return line_chart(series, xlabel=xlabel, ylabel=metric, points=True, width=560, xfmt=xfmt)


def performance(sections: list[DriftSection | None], xs: list[Any], xlabel: str,
                xfmt: Callable[[float], str]) -> dict[str, Any]:
    """Charts of estimated vs realized performance over the checks and over the latest
    check's chunks; empty when no check estimated performance."""
    perfs = [s.performance if s is not None else None for s in sections]
    with_est = [(x, p) for x, p in zip(xs, perfs, strict=True) if p is not None and p.method]
    if not with_est:
        return {}
    last = with_est[-1][1]
    metrics = [m for m in MAIN.get(last.task, ()) if m in last.estimated] or list(last.estimated)
    over_time = {m: _chart(m, [x for x, _ in with_est], [p.estimated for _, p in with_est],
                           [p.realized for _, p in with_est], xlabel, xfmt) for m in metrics}
    chunks = {}
    if last.chunks:
        keys = [c.key for c in last.chunks]
        idx = list(range(len(keys)))

        def tick(t: float) -> str:
            near = round(t)
            return f"#{near + 1}" if abs(t - near) < 1e-6 and 0 <= near < len(keys) else ""

        label = f"chunk (#1: {keys[0]}, #{len(keys)}: {keys[-1]})"
        for m in metrics:
            chunks[m] = _chart(m, idx, [c.estimated for c in last.chunks],
                               [c.realized for c in last.chunks], label, tick)
    return {"method": last.method, "task": last.task, "over_time": over_time,
            "chunks": chunks, "calibration": last.calibration,
            "latest": [(m, last.estimated.get(m), last.realized.get(m)) for m in metrics]}


def quality(section: DriftSection | None) -> list[dict[str, Any]]:
    """The latest check's rules per column: failures first, then the column's passed rules."""
    if section is None:
        return []
    per: dict[str, dict[str, Any]] = {}
    for q in section.data_quality:
        row = per.setdefault(q.column or "(table)", {"column": q.column or "(table)",
                                                    "failed": [], "passed": []})
        row["failed" if q.status == "fail" else "passed"].append(q)
    return sorted(per.values(), key=lambda r: not r["failed"])
