"""The experiment page's study panel: best-so-far curve and each param against the metric.

Drawn from what the trial runs saved (their ``trial`` section: number, metric, direction,
space, state and value), never from Optuna's journal: the report reads run records only
and needs no Optuna.  The best-so-far line is the running best of the values saved, in
trial order (a presentation of saved numbers, not a result computed here).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from dii_hpc.records import trial
from dii_hpc.records.trial import TrialSection
from dii_hpc.report import display
from dii_hpc.report.charts import Series, fmt_tick, line_chart
from dii_hpc.report.source import RunEntry

MAX_PARAM_CHARTS = 8


def _trials(runs: list[RunEntry]) -> list[tuple[TrialSection, dict[str, Any]]]:
    """(trial section, record) of every trial run, in trial order."""
    found = [(section, r.record) for r in runs if (section := trial.of(r.record)) is not None]
    return sorted(found, key=lambda t: t[0].number)


def _value(section: TrialSection, record: dict[str, Any]) -> float | None:
    """The trial's objective; for a pruned one the metric's last value (where it stopped)."""
    value = display.number(section.value)
    if value is None and section.state == "PRUNED":
        metric = display.as_dict(display.as_dict(record.get("metrics")).get(section.metric))
        value = display.number(metric.get("last"))
    return value if value is not None and math.isfinite(value) else None


def study_context(runs: list[RunEntry]) -> dict[str, Any] | None:
    """None when the experiment has no trial runs."""
    trials = _trials(runs)
    if not trials:
        return None
    latest = trials[-1][0]  # its metric and space: the study's latest spec
    metric, direction = latest.metric, latest.direction
    better = max if direction == "maximize" else min
    done = [(s.number, _value(s, rec), s.state, rec) for s, rec in trials]
    complete = [(n, v, rec) for n, v, state, rec in done if state == "COMPLETE" and v is not None]
    pruned = [(n, v) for n, v, state, _ in done if state == "PRUNED" and v is not None]
    best_x, best_y, best = [], [], None
    for n, v, _ in complete:
        best = v if best is None else better(best, v)
        best_x.append(n)
        best_y.append(best)
    series = [Series("trial value", [n for n, _, _ in complete], [v for _, v, _ in complete],
                     line=False)]
    if pruned:
        series.append(Series("pruned (last value)", [n for n, _ in pruned],
                             [v for _, v in pruned], marks=[True] * len(pruned), line=False))
    series.append(Series("best so far", best_x, best_y))
    top = better(complete, key=lambda t: t[1]) if complete else None
    return {
        "metric": metric, "direction": direction, "n": len(trials),
        "counts": _counts(done), "best": {"number": top[0], "value": top[1],
                                           "run_id": top[2]["run_id"],
                                           "params": _space_params(latest, top[2])} if top else None,
        "history_svg": line_chart(series, xlabel="trial", ylabel=metric, points=True),
        "param_charts": _param_charts(latest, complete, metric),
    }


def _counts(done: list[tuple[Any, ...]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, _, state, _ in done:
        out[str(state or "RUNNING")] = out.get(str(state or "RUNNING"), 0) + 1
    return out


def _space_params(section: TrialSection, record: dict[str, Any]) -> dict[str, Any]:
    params = record.get("params") or {}
    return {k: params.get(k) for k in section.space}


def _label_at(labels: list[str], x: float) -> str:
    """The choice a tick stands for: choices are drawn at their position, 0, 1, 2..."""
    i = round(x)
    return labels[i] if abs(x - i) < 1e-9 and 0 <= i < len(labels) else ""


def _param_charts(section: TrialSection, complete: list[tuple[int, float, dict[str, Any]]],
                  metric: str) -> list[dict[str, Any]]:
    """One scatter per space param: value (log10 for log_uniform; choices by position)."""
    charts = []
    for key, kind in list(section.space.items())[:MAX_PARAM_CHARTS]:
        raw = [((rec.get("params") or {}).get(key), v) for _, v, rec in complete]
        xs: list[float | None]
        xfmt: Callable[[float], str] = fmt_tick
        if kind == "choice":
            labels = list(dict.fromkeys(str(p) for p, _ in raw))
            xs = [float(labels.index(str(p))) for p, _ in raw]
            xfmt, xlabel = functools.partial(_label_at, labels), key
        else:
            nums = [display.number(p) for p, _ in raw]
            log = kind == "log_uniform"
            xs = [math.log10(x) if log and x and x > 0 else (x if not log else math.nan)
                  for x in nums]
            xlabel = f"log10({key})" if log else key
        pts = [(x, v) for x, (_, v) in zip(xs, raw, strict=True) if x is not None]
        svg = line_chart([Series(key, [x for x, _ in pts], [v for _, v in pts], line=False)],
                         xlabel=xlabel, ylabel=metric, width=360, height=220, xfmt=xfmt)
        charts.append({"key": key, "svg": svg})
    return charts
