"""Small derived views of run records: display names, best values, resources, safe file names.

These only reshape what a run saved (no result is computed here); the heuristics (which
metric is "best", which direction is better) are display choices, documented on the page.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import re
from typing import Any

from dii_hpc import vocabulary as vocab
from dii_hpc.report.source import RunEntry

_LOWER_BETTER = re.compile(r"loss|err|mse|mae|rmse|nll|perplex|latency|time|cost|drift|fpr",
                           re.IGNORECASE)
_PRIMARY = (r"val.*acc", r"acc", r"val.*loss", r"loss", r"auc", r"f1")
_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,100}$")


def safe_name(name: str) -> str:
    """A file name for a page: the name itself when harmless, else a sanitised name + hash."""
    if _SAFE.match(name) and name not in (".", ".."):
        return name
    stem = re.sub(r"[^A-Za-z0-9_.\-]", "_", name)[:60].lstrip(".") or "x"
    return f"{stem}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def lower_is_better(key: str) -> bool:
    return bool(_LOWER_BETTER.search(key.rsplit("/", 1)[-1]))


def display_name(record: dict[str, Any]) -> str:
    tags = record.get("tags") or {}
    for key in ("name", "run_name", "mlflow.runName"):
        if tags.get(key):
            return str(tags[key])
    from dii_hpc.records import audit as audit_record

    audit = audit_record.of(record) if record.get("kind") == "audit" else None
    if audit is not None and audit.name:
        return f"{audit.name} {audit.kind}, level {audit.level or '?'}"
    return str(record.get("run_id", ""))


_SYSTEM_TAG = re.compile(r"^(name|run_name|launcher|monitor)$|^(mlflow|import|dii_hpc)\.")


def note(record: dict[str, Any]) -> str | None:
    """The note of ``dii-hpc runs note`` (or an imported MLflow run's description)."""
    text = record.get("note") or (record.get("tags") or {}).get("mlflow.note.content")
    return str(text) if text else None


def user_tags(record: dict[str, Any]) -> dict[str, str]:
    """Tags people set (``runs tag``, their code), without the ones tools set for themselves."""
    return {k: str(v) for k, v in (record.get("tags") or {}).items() if not _SYSTEM_TAG.search(k)}


def as_dict(value: Any) -> dict[str, Any]:
    """A record section that should be a mapping, or {} (a report reads what any version wrote)."""
    return value if isinstance(value, dict) else {}


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def best_value(summary: dict[str, Any], key: str) -> float | None:
    """The best value a metric reached, read from the run's min/max summary."""
    pick = "min" if lower_is_better(key) else "max"
    return number(summary.get(pick, summary.get("last")))


def primary_metric(keys: list[str]) -> str | None:
    """The metric that picks the experiment's best run: accuracy-like first, then loss-like."""
    for pattern in _PRIMARY:
        for key in keys:
            if re.search(pattern, key, re.IGNORECASE):
                return key
    return keys[0] if keys else None


def best_run(runs: list[RunEntry], key: str | None) -> str | None:
    if key is None:
        return None
    scored = [(best_value((r.record.get("metrics") or {}).get(key) or {}, key), r.run_id)
              for r in runs]
    scored = [(v, rid) for v, rid in scored if v is not None]
    if not scored:
        return None
    pick = min if lower_is_better(key) else max
    return pick(scored)[1]


def duration(record: dict[str, Any]) -> float | None:
    if number(record.get("duration_s")) is not None:
        return float(record["duration_s"])
    start, end = number(record.get("start_time")), number(record.get("end_time"))
    return end - start if start is not None and end is not None else None


def resources(record: dict[str, Any]) -> str:
    """One line of the Slurm accounting saved with a run ("" for a local run).

    Reads the sacct record the slurm package joins into run.json (job_id, alloc_tres,
    max_rss_mb, elapsed_s, queue_wait_s, partition); older or partial records degrade to
    whatever keys are there.
    """
    slurm = record.get("slurm") or {}
    if not isinstance(slurm, dict) or not slurm:
        return ""
    parts = [f"job {slurm['job_id']}"] if slurm.get("job_id") else []
    tres = as_dict(slurm.get("alloc_tres"))
    for key, unit in (("node", "node"), ("cpu", "cpu"), ("gpu", "gpu")):
        if tres.get(key):
            parts.append(f"{fmt_num(tres[key])} {unit}")
    if not tres and slurm.get("ncpus"):
        parts.append(f"{slurm['ncpus']} cpu")
    if number(slurm.get("max_rss_mb")) is not None:
        parts.append(f"{slurm['max_rss_mb']:.0f} MB RSS")
    elif slurm.get("max_rss"):
        parts.append(f"{slurm['max_rss']} RSS")
    if number(slurm.get("elapsed_s")) is not None:
        parts.append(fmt_duration(slurm["elapsed_s"]))
    if number(slurm.get("queue_wait_s")):
        parts.append(f"waited {fmt_duration(slurm['queue_wait_s'])}")
    if slurm.get("partition"):
        parts.append(str(slurm["partition"]))
    return " · ".join(parts)


def status_counts(runs: list[RunEntry]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for run in runs:
        status = str(run.record.get("status") or "UNKNOWN")
        counts[status] = counts.get(status, 0) + 1
    order = {s: i for i, s in enumerate(vocab.STATUSES)}
    return dict(sorted(counts.items(), key=lambda kv: (order.get(kv[0], 99), kv[0])))


def fmt_num(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def fmt_param(value: Any) -> str:
    """Params in the run table: ints exact, floats to 6 significant digits (the sort key)."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6g}"
    return fmt_num(value)


def sort_value(value: Any) -> str:
    """A compact numeric sort key for ``data-v`` ("" when not a finite number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return ""
    return str(value) if isinstance(value, int) else f"{value:.12g}"


def fmt_time(value: Any) -> str:
    if number(value) is None:
        return ""
    stamp = _dt.datetime.fromtimestamp(float(value), tz=_dt.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_duration(seconds: Any) -> str:
    sec = number(seconds)
    if sec is None:
        return ""
    if sec < 60:
        return f"{sec:.1f} s"
    minutes, s = divmod(int(sec), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h {m:02d}m" if hours else f"{m}m {s:02d}s"


def fmt_size(size: Any) -> str:
    value = number(size)
    if value is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""
