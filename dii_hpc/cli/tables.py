"""Text renderings of runs for the terminal, and JSON/CSV for scripts (pure functions)."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_TABLE_HIDE = ("tags.", "slurm.")


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def render_frame(df: pd.DataFrame, fmt: str) -> str:
    if fmt == "json":
        return df.to_json(orient="records", date_format="iso", indent=1)
    if fmt == "csv":
        return df.to_csv(index=False).rstrip("\n")
    if not len(df):
        return "(no runs)"
    cells = [[str(c) for c in df.columns]]
    cells += [[_fmt(v) for v in row] for row in df.itertuples(index=False)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_runs(df: pd.DataFrame, fmt: str) -> str:
    if fmt == "table":
        keep = [c for c in df.columns if not c.startswith(_TABLE_HIDE) and c != "end_time"]
        df = df[keep]
    return render_frame(df, fmt)


def render_record(record: dict[str, Any], artifacts: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({**record, "artifacts": artifacts}, indent=1, default=str)
    lines = []
    for key in ("run_id", "experiment", "kind", "status", "error", "parent_run", "attempts"):
        if record.get(key) is not None:
            lines.append(f"{key}: {record[key]}")
    for key in ("start_time", "end_time"):
        if record.get(key):
            import datetime as dt

            stamp = dt.datetime.fromtimestamp(record[key], tz=dt.timezone.utc)
            lines.append(f"{key}: {stamp:%Y-%m-%d %H:%M:%S} UTC")
    for section in ("params", "tags"):
        if record.get(section):
            lines.append(f"{section}:")
            lines += [f"  {k}: {_fmt(v)}" for k, v in record[section].items()]
    if record.get("metrics"):
        lines.append("metrics (last / min / max @ step, count):")
        for k, m in record["metrics"].items():
            lines.append(
                f"  {k}: {_fmt(m.get('last'))} / {_fmt(m.get('min'))} / {_fmt(m.get('max'))}"
                f" @ {m.get('step')}, {m.get('count')}"
            )
    if artifacts:
        lines.append("artifacts:")
        lines += [f"  {n}: {a['size']} B sha256:{a['sha256'][:12]}" for n, a in artifacts.items()]
    for section in ("slurm", "manifest"):
        if record.get(section):
            lines.append(f"{section}:")
            lines += [f"  {k}: {_short(v)}" for k, v in record[section].items()]
    return "\n".join(lines)


def _short(value: Any, limit: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compare_frame(records: list[dict[str, Any]], all_params: bool = False) -> pd.DataFrame:
    """Rows = params that differ (or all) + every metric's last value; one column per run."""
    import pandas as pd

    from dii_hpc.store.records import flatten

    flat = [flatten(r) for r in records]
    keys: list[str] = []
    for row in flat:
        keys += [k for k in row if k not in keys and k.startswith(("params.", "metrics.", "slurm."))]
    keys = ["status", "duration_s", *keys]
    out = []
    for key in keys:
        values = [row.get(key) for row in flat]
        differs = len({json.dumps(v, default=str) for v in values}) > 1
        if key.startswith("params.") and not differs and not all_params:
            continue
        out.append({"field": key, **{r["run_id"]: v for r, v in zip(records, values, strict=True)}})
    return pd.DataFrame(out)
