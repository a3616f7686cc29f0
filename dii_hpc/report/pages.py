"""Page paths and the run page's context, shaped from saved run records only (the
experiment page's context is experiment.py's)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Container
from pathlib import Path
from typing import Any

from dii_hpc.report import display
from dii_hpc.report.charts import Series, downsample, line_chart
from dii_hpc.report.groups import is_archived
from dii_hpc.report.source import RunEntry, log_tail

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
def publish_artifacts(run: RunEntry, out: Path | None) -> list[dict[str, Any]]:
    """Link (or copy) each artifact blob into ``files/<sha256>/<name>`` and describe it;
    ``out`` None: only describe it (a server hands out the blob at that path itself)."""
    rows = []
    for name, meta in sorted(run.artifacts.items()):
        sha = str(meta.get("sha256") or "")
        base = display.safe_name(name.replace("/", "_"))
        rel = f"files/{display.safe_name(sha)}/{base}" if sha else ""
        src = Path(str(meta.get("path") or ""))
        ok = bool(rel) and (src.is_file() if out is None else _place(src, out / rel,
                                                                    meta.get("size")))
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
                artifacts: list[dict[str, Any]], known: Container[str]) -> dict[str, Any]:
    record = run.record
    extra = {k: v for k, v in record.items() if k not in _CORE and v not in (None, {}, [])}
    sections = {k: v for k, v in extra.items() if isinstance(v, (dict, list))}
    other = {k: (display.fmt_time(v) if _is_time(k, v) else v)
             for k, v in extra.items() if k not in sections}
    manifest = display.as_dict(record.get("manifest"))
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
    first = next((log for log in logs if str(log["text"]).strip()), None)
    for log in logs:
        log["open"] = log is first
    return logs


_CORE = {"run_id", "experiment", "kind", "status", "params", "tags", "start_time", "end_time",
         "error", "metrics", "manifest", "slurm", "parent_run", "duration_s", "created_time",
         "attempts", "note", "archived"}
