"""The CLI's one table formatter: `cell` (dii_hpc.cells) turns a value into text, `table` aligns columns, and
`render_frame` gives the table / JSON / CSV forms that `runs list|compare` offer.

Every command prints through these (runs, status, drift check, predict, audit, the dry-run
task table), so a number, a missing value or a column looks the same everywhere.  Pure
functions; pandas is only imported by the functions that build frames.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dii_hpc.cells import cell, frame_json

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["cell", "cells_apart", "digits_apart", "render_frame", "table"]  # cell: cells.py

FORMATS = ("table", "json", "csv")
_TABLE_HIDE = ("tags.", "slurm.")


def cells_apart(a: float, b: float, digits: int = 4) -> tuple[str, str]:
    """Two numbers with the fewest significant digits (from ``digits``) that tell them apart,
    so that a verdict never reads "0.1696 < 0.1696"; equal numbers print alike."""
    for n in range(digits, 18):
        left, right = cell(float(a), digits=n), cell(float(b), digits=n)
        if left != right or a == b:
            return left, right
    return repr(float(a)), repr(float(b))


def digits_apart(values: Sequence[float], digits: int = 4) -> int:
    """The fewest significant digits (from ``digits``) at which numbers that differ print
    differently: a column of objectives compared by eye (`sweep show`) needs it."""
    numbers = {float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)}
    for n in range(digits, 18):
        if len({cell(v, digits=n) for v in numbers}) == len(numbers):
            return n
    return 17


def table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None, *,
          rule: bool = False, align: str = "", min_widths: Sequence[int] = (),
          sep: str = "  ") -> str:
    """Rows of cells (already text, or anything `str` takes) as aligned columns.

    ``align`` has one letter per column, ``l`` (default) or ``r``; ``min_widths`` pads columns
    to at least that width; ``rule`` puts dashes under the header. Lines end without spaces.
    """
    cells = ([[str(c) for c in header]] if header else []) + [[str(c) for c in r] for r in rows]
    if not cells:
        return ""
    n = max(len(r) for r in cells)
    widths = [max([len(r[i]) for r in cells if i < len(r)]
                  + [min_widths[i] if i < len(min_widths) else 0]) for i in range(n)]

    def line(row: list[str]) -> str:
        return sep.join(c.rjust(w) if align[i:i + 1] == "r" else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=False))).rstrip()

    lines = [line(r) for r in cells]
    if rule and header:
        lines.insert(1, sep.join("-" * w for w in widths))
    return "\n".join(lines)


def check_format(fmt: str, formats: Sequence[str] = FORMATS) -> str:
    if fmt not in formats:
        from dii_hpc.errors import BadInput

        raise BadInput(f"unknown --format {fmt!r}: expected one of {', '.join(formats)}")
    return fmt


def render_frame(df: pd.DataFrame, fmt: str, empty: str = "(no runs)") -> str:
    """A DataFrame as a table (header and rule), JSON records or CSV."""
    if fmt == "json":
        return frame_json(df)
    if fmt == "csv":
        return df.to_csv(index=False).rstrip("\n")
    if not len(df):
        return empty
    return table([[cell(v) for v in row] for row in df.itertuples(index=False)],
                 [str(c) for c in df.columns], rule=True)


def render_runs(df: pd.DataFrame, fmt: str) -> str:
    if fmt == "table":
        keep = [c for c in df.columns if not c.startswith(_TABLE_HIDE) and c != "end_time"]
        df = df[keep]
    return render_frame(df, fmt)


def render_record(record: dict[str, Any], artifacts: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        from dii_hpc.store.atomic import dumps

        return dumps({**record, "artifacts": artifacts}).decode()
    lines = []
    for key in ("run_id", "experiment", "kind", "status", "error", "parent_run", "attempts"):
        if record.get(key) is not None:
            lines.append(f"{key}: {record[key]}")
    for key in ("start_time", "end_time"):
        if record.get(key):
            stamp = dt.datetime.fromtimestamp(record[key], tz=dt.timezone.utc)
            lines.append(f"{key}: {stamp:%Y-%m-%d %H:%M:%S} UTC")
    for section in ("params", "tags"):
        if record.get(section):
            lines.append(f"{section}:")
            lines += [f"  {k}: {cell(v)}" for k, v in record[section].items()]
    if record.get("metrics"):
        lines.append("metrics (last / min / max @ step, count):")
        for k, m in record["metrics"].items():
            lines.append(
                f"  {k}: {cell(m.get('last'))} / {cell(m.get('min'))} / {cell(m.get('max'))}"
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


def compare_frame(records: list[dict[str, Any]], all_params: bool = False,
                  readable: bool = False) -> pd.DataFrame:
    """Rows = params that differ (or all) + every metric's last value; one column per run.
    ``readable`` (the table form): epoch times (``slurm.start_time``...) as UTC dates."""
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
        if readable and key.endswith("_time"):
            values = [_utc(v) for v in values]
        out.append({"field": key, **{r["run_id"]: v for r, v in zip(records, values, strict=True)}})
    return pd.DataFrame(out)


def when(value: Any) -> str:
    """An epoch time as `runs list` prints its times (UTC, to the second)."""
    return cell(_utc(value))


def _utc(value: Any) -> Any:
    """An epoch time as a naive UTC datetime (what `cell` prints), anything else unchanged."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc).replace(tzinfo=None)
    return value


def task_table(rows: list[dict[str, Any]], limit: int = 50) -> str:
    """The task table of a submission (what `submit --dry-run` prints): one line per task."""
    keys: list[str] = []
    for row in rows[:limit]:
        keys += [k for k in row["run_params"] if k not in keys]
    lines = [[str(r["index"]), *(cell(r["run_params"].get(k), digits=6, none="") for k in keys)]
             for r in rows[:limit]]
    text = table(lines, ["task", *keys])
    if len(rows) > limit:
        text += f"\n... and {len(rows) - limit} more task(s)"
    return text


def status_lines(rows: list[dict[str, Any]]) -> str:
    """Runs as `dii-hpc status` lists them: id, status, job, elapsed, peak memory, error."""
    def num(value: Any, unit: str) -> str:
        return f"{value:.0f}{unit}" if isinstance(value, (int, float)) else "-"

    return table([[r["run_id"], r["status"], r["job_id"] or "-", num(r["elapsed_s"], "s"),
                   num(r["max_rss_mb"], "MB"), r["error"]] for r in rows],
                 ["run_id", "status", "job", "elapsed", "max_rss", "error"], rule=True,
                 align="lllrr", min_widths=(26, 12, 11, 7, 7))


def status_summary(rows: list[dict[str, Any]]) -> str:
    """'8 run(s): 6 FINISHED, 2 RUNNING' per experiment."""
    by_exp: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = by_exp.setdefault(str(row["experiment"]), {})
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return "\n".join(
        f"{exp}: {sum(c.values())} run(s): " + ", ".join(f"{n} {s}" for s, n in sorted(c.items()))
        for exp, c in sorted(by_exp.items()))


def submitted_to(res: Any) -> str:
    """Where a submission went (its arrays, or the executor), as the submit lines say it."""
    return (f"Slurm array(s) {', '.join(res.arrays)}" if res.executor == "slurm"
            else f"the {res.executor} executor")
