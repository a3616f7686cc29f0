"""Page contexts: what each template receives, shaped from saved run records only."""

from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

from dii_hpc.report import display
from dii_hpc.report.charts import Series, downsample, line_chart
from dii_hpc.report.groups import groups_context, is_archived
from dii_hpc.report.source import RunEntry, log_tail
from dii_hpc.report.study import study_context

MAX_PARAM_COLS = 40
MAX_METRIC_COLS = 12
MAX_RUN_CHARTS = 40
RUN_CHART_POINTS = 400
COPY_LIMIT = 256 * 1024 * 1024  # bigger artifacts are hard-linked or only named
_IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def run_path(run_id: str) -> str:
    return f"runs/{display.safe_name(run_id)}.html"


def experiment_path(name: str) -> str:
    return f"experiments/{display.safe_name(name)}.html"


def audit_path(run_id: str) -> str:
    return f"audits/{display.safe_name(run_id)}.html"


def monitor_path(name: str) -> str:
    return f"monitors/{display.safe_name(name)}.html"


def model_path(name: str) -> str:
    return f"models/{display.safe_name(name)}.html"


def pipeline_path(pipeline_id: str) -> str:
    return f"pipelines/{display.safe_name(pipeline_id)}.html"


PATHS = {"run_path": run_path, "experiment_path": experiment_path, "audit_path": audit_path,
         "monitor_path": monitor_path, "model_path": model_path, "pipeline_path": pipeline_path}


def monitor_of(run: RunEntry) -> str:
    from dii_hpc.records import drift as drift_record

    tags = run.record.get("tags") or {}
    section = drift_record.read(run.record)
    return str(tags.get("monitor") or (section.monitor if section else None) or "ad-hoc")


# --------------------------------------------------------------------------- artifacts
def publish_artifacts(run: RunEntry, out: Path) -> list[dict[str, Any]]:
    """Link (or copy) each artifact blob into ``files/<sha256>/<name>`` and describe it."""
    rows = []
    for name, meta in sorted(run.artifacts.items()):
        sha = str(meta.get("sha256") or "")
        base = display.safe_name(name.replace("/", "_"))
        rel = f"files/{display.safe_name(sha)}/{base}" if sha else ""
        ok = bool(rel) and _place(Path(str(meta.get("path") or "")), out / rel, meta.get("size"))
        rows.append({"name": name, "size": meta.get("size"), "sha256": sha,
                     "href": rel if ok else None, "source": str(meta.get("path") or ""),
                     "image": ok and name.lower().endswith(_IMAGES)})
    return rows


def _place(src: Path, dest: Path, size: Any) -> bool:
    if dest.exists():
        return True
    if not src.is_file():
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
        return True
    except OSError:
        if isinstance(size, int) and size > COPY_LIMIT:
            return False
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return True


# --------------------------------------------------------------------------- run page
def metric_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, summary in sorted((record.get("metrics") or {}).items()):
        summary = summary if isinstance(summary, dict) else {"last": summary}
        rows.append({"key": key, "best": display.best_value(summary, key),
                     "lower": display.lower_is_better(key), **summary})
    return rows


def run_charts(histories: dict[str, tuple[list, list]]) -> list[dict[str, Any]]:
    charts = []
    for key in sorted(k for k, v in histories.items() if len(v[0]) > 1)[:MAX_RUN_CHARTS]:
        steps, values = downsample(*histories[key], RUN_CHART_POINTS)  # 1 point: table only
        charts.append({"key": key, "svg": line_chart([Series(key, steps, values)], ylabel=key,
                                                     points=len(steps) == 1)})
    return charts


def run_context(run: RunEntry, histories: dict[str, tuple[list, list]],
                artifacts: list[dict[str, Any]], known: set[str]) -> dict[str, Any]:
    record = run.record
    extra = {k: v for k, v in record.items() if k not in _CORE and v not in (None, {}, [])}
    sections = {k: v for k, v in extra.items() if isinstance(v, (dict, list))}
    other = {k: (display.fmt_time(v) if _is_time(k, v) else v)
             for k, v in extra.items() if k not in sections}
    manifest = record.get("manifest") if isinstance(record.get("manifest"), dict) else {}
    parent = record.get("parent_run")
    return {
        "run": record, "run_id": run.run_id, "name": display.display_name(record),
        "kind": run.kind, "duration": display.duration(record), "metrics": metric_rows(record),
        "charts": run_charts(histories), "artifacts": artifacts,
        "logs": _logs(run), "other": other,
        "manifest_flat": {k: v for k, v in manifest.items() if not isinstance(v, (dict, list))},
        "manifest_nested": {k: v for k, v in manifest.items() if isinstance(v, (dict, list))},
        "sections": sections, "monitor": monitor_of(run) if run.kind == "drift" else None,
        "parent": parent, "parent_known": parent in known, "note": display.note(record),
        "archived": is_archived(run),
    }


def _is_time(key: str, value: Any) -> bool:
    """Epoch seconds saved under a time-like key (heartbeat, *_time) read better as dates."""
    return (("time" in key or key == "heartbeat") and display.number(value) is not None
            and 1e9 < value < 1e10)


def _logs(run: RunEntry) -> list[dict[str, Any]]:
    """Log tails, stdout first; the first non-empty one is shown open."""
    order = sorted(run.log_files, key=lambda p: (not p.name.startswith("stdout"), p.name))
    logs = []
    for path in order:
        text, cut = log_tail(path)
        logs.append({"name": path.name, "text": text, "cut": cut,
                     "size": path.stat().st_size})
    first = next((log for log in logs if log["text"].strip()), None)
    for log in logs:
        log["open"] = log is first
    return logs


_CORE = {"run_id", "experiment", "kind", "status", "params", "tags", "start_time", "end_time",
         "error", "metrics", "manifest", "slurm", "parent_run", "duration_s", "created_time",
         "attempts", "note", "archived"}


# --------------------------------------------------------------------------- experiment
def _columns(runs: list[RunEntry], field: str, cap: int) -> list[str]:
    count: dict[str, int] = {}
    for run in runs:
        for key in run.record.get(field) or {}:
            count[key] = count.get(key, 0) + 1
    return sorted(count, key=lambda k: (-count[k], k))[:cap]


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return str(value)[:80]
    return value


def experiment_context(name: str, runs: list[RunEntry],
                       curves: dict[str, dict[str, list]]) -> dict[str, Any]:
    pkeys = _columns(runs, "params", MAX_PARAM_COLS)
    mkeys = _columns(runs, "metrics", MAX_METRIC_COLS)
    study = study_context(runs)
    primary = study["metric"] if study and study["metric"] in mkeys else display.primary_metric(mkeys)
    best = display.best_run([r for r in runs if not is_archived(r)], primary)
    rows, data_runs = [], []
    for run in reversed(runs):  # newest first
        rec = run.record
        params = rec.get("params") or {}
        mets = rec.get("metrics") or {}
        last = {k: display.number((mets.get(k) or {}).get("last")) for k in mkeys}
        rows.append({
            "id": run.run_id, "name": display.display_name(rec), "kind": run.kind,
            "status": rec.get("status") or "", "start": rec.get("start_time"),
            "duration": display.duration(rec), "resources": display.resources(rec),
            "params": {k: _cell(params.get(k)) for k in pkeys}, "last": last,
            "best": {k: display.best_value(mets.get(k) or {}, k) for k in mkeys},
            "is_best": run.run_id == best, "note": display.note(rec),
            "tags": display.user_tags(rec), "archived": is_archived(run),
        })
        data_runs.append({"id": run.run_id, "n": rows[-1]["name"],
                          "h": "../" + run_path(run.run_id),  # relative to experiments/
                          "p": {k: _cell(params[k]) for k in pkeys if k in params}, "m": last,
                          **({"a": 1} if rows[-1]["archived"] else {})})
    grouped = groups_context(runs, mkeys, curves)
    return {
        "study": study,
        "seed_groups": grouped["seed_groups"], "n_archived": sum(r["archived"] for r in rows),
        "name": name, "rows": rows, "param_keys": pkeys, "metric_keys": mkeys,
        "primary": primary, "best": best, "counts": display.status_counts(runs),
        "data": {"runs": data_runs, "metrics": mkeys, "params": pkeys, "primary": primary,
                 "best": best, "lower": {k: display.lower_is_better(k) for k in mkeys},
                 "scatter": _scatter_param(runs, pkeys),
                 "curves": curves, "groups": grouped["groups_data"]},
    }


def _scatter_param(runs: list[RunEntry], pkeys: list[str]) -> str | None:
    """The param first shown against the metric: the numeric one that varies most
    (ids and seeds excluded: they vary most and explain nothing)."""
    best, spread = None, 1
    for key in pkeys:
        if re.search(r"seed|(^|_)id$|index|^run", key, re.IGNORECASE):
            continue
        values = ((r.record.get("params") or {}).get(key) for r in runs)
        numeric = {n for n in map(display.number, values) if n is not None}  # lists/dicts: skipped
        if len(numeric) > spread:
            best, spread = key, len(numeric)
    return best or (pkeys[0] if pkeys else None)


CURVE_BUDGET = 150_000  # points embedded in one experiment page (~2 MB of JSON)


def fit_budget(curves: dict[str, dict[str, list]], budget: int = CURVE_BUDGET) -> dict[str, Any]:
    """Thin every curve evenly so that the page stays small however many metrics runs log."""
    total = sum(len(c[0]) for run in curves.values() for c in run.values())
    if total <= budget:
        return curves
    n_curves = sum(len(run) for run in curves.values()) or 1
    keep = max(8, budget // n_curves)
    return {rid: {k: [list(v) for v in downsample(c[0], c[1], keep)] for k, c in run.items()}
            for rid, run in curves.items()}


def small_curves(histories: dict[str, tuple[list, list]], points: int = 60) -> dict[str, list]:
    """Downsampled, rounded curves: the experiment page embeds one blob for all runs."""
    isfinite = math.isfinite
    out = {}
    for key in sorted(histories)[:MAX_METRIC_COLS * 2]:
        steps, values = downsample(*histories[key], points)
        out[key] = [[int(s) if isfinite(s) and s == int(s) else s for s in steps],
                    [float(f"{v:.4g}") if isfinite(v) else None for v in values]]
    return out
