"""Runs that differ only by seed, shown as one group: mean +- sd of each metric's last value
in a table, and the mean curve with a 95 % confidence band of the mean on a chart.

A display choice, like the "best run" star: nothing here is stored, and the grouping rule is
printed on the page. A param is a seed when its name is ``seed`` or ends in ``_seed`` /
``.seed``; runs whose other params are all equal form a group once it has two or more
members. Archived runs take no part. The band is mean +- t(0.975, n-1) * sd / sqrt(n) at
each step that every member of the group logged.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from dii_hpc.report.source import RunEntry

SEED = re.compile(r"(^|[._])seed$", re.IGNORECASE)
MAX_GROUPS = 20


def is_archived(run: RunEntry) -> bool:
    return bool(run.record.get("archived"))


def seed_groups(runs: list[RunEntry]) -> list[list[RunEntry]]:
    """Groups (oldest run first) of two or more runs equal in every param but their seeds."""
    by_key: dict[str, list[RunEntry]] = {}
    for run in runs:
        params = run.record.get("params") or {}
        if is_archived(run) or not any(SEED.search(k) for k in params):
            continue
        rest = {k: v for k, v in params.items() if not SEED.search(k)}
        key = json.dumps([run.kind, rest], sort_keys=True, default=str)
        by_key.setdefault(key, []).append(run)
    groups = [g for g in by_key.values() if len(g) > 1]
    groups.sort(key=lambda g: (g[0].start, g[0].run_id))
    return groups[:MAX_GROUPS]


def _label(group: list[RunEntry], varying: list[str]) -> str:
    params = group[0].record.get("params") or {}
    parts = [f"{k}={params.get(k)}" for k in varying if k in params]
    return ", ".join(parts) or "all other params equal"


def _varying(groups: list[list[RunEntry]]) -> list[str]:
    """The non-seed params whose values differ between groups (what tells groups apart)."""
    seen: dict[str, set[str]] = {}
    for group in groups:
        for k, v in (group[0].record.get("params") or {}).items():
            if not SEED.search(k):
                seen.setdefault(k, set()).add(json.dumps(v, sort_keys=True, default=str))
    return sorted(k for k, vals in seen.items() if len(vals) > 1)


def mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite:
        return None, None
    mean = sum(finite) / len(finite)
    if len(finite) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1))


def _t975(n: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1))


def band(curves: list[list[list[Any]]]) -> list[list[float]] | None:
    """[steps, mean, lo, hi] over the steps every curve has; None when fewer than 2 curves."""
    if len(curves) < 2:
        return None
    points = [dict(zip(c[0], c[1], strict=False)) for c in curves]
    steps = sorted(set.intersection(*(set(p) for p in points)))
    out: list[list[float]] = [[], [], [], []]
    t = _t975(len(curves))
    for step in steps:
        mean, sd = mean_sd([p[step] for p in points if p[step] is not None])
        if mean is None or sd is None:
            continue
        half = t * sd / math.sqrt(len(curves))
        for column, value in zip(out, (step, mean, mean - half, mean + half), strict=True):
            column.append(float(f"{value:.5g}"))
    return out if out[0] else None


def groups_context(runs: list[RunEntry], metric_keys: list[str],
                   curves: dict[str, dict[str, list]]) -> dict[str, Any]:
    """``seed_groups`` rows for the table and ``data`` entries for the band chart."""
    groups = seed_groups(runs)
    varying = _varying(groups)
    rows, data = [], []
    for i, group in enumerate(groups):
        gid = f"g{i}"
        stats = {}
        for key in metric_keys:
            last = [((r.record.get("metrics") or {}).get(key) or {}).get("last") for r in group]
            stats[key] = mean_sd(last)
        seeds = [{k: v for k, v in (r.record.get("params") or {}).items() if SEED.search(k)}
                 for r in group]
        label = _label(group, varying)
        rows.append({"id": gid, "label": label, "n": len(group), "stats": stats,
                     "seeds": ", ".join(str(v) for s in seeds for v in s.values()),
                     "runs": [r.run_id for r in group]})
        bands = {}
        for key in sorted({k for r in group for k in curves.get(r.run_id, {})}):
            got = band([curves[r.run_id][key] for r in group if key in curves.get(r.run_id, {})])
            if got:
                bands[key] = got
        data.append({"id": gid, "label": label, "n": len(group),
                     "runs": [r.run_id for r in group], "curves": bands})
    return {"seed_groups": rows, "groups_data": data}
