"""``search_runs``: the store's run table with MLflow's column names and value types.

Columns as MLflow returns them: run_id, experiment_id, status, artifact_uri, start_time,
end_time (UTC datetimes), then metrics.*, params.* (strings, as MLflow stores params) and
tags.*. ``filter_string`` takes MLflow's syntax (``metrics.acc > 0.9 AND params.lr = '0.01'``,
``attributes.status = 'FINISHED'``, ``tags."mlflow.runName" = 'x'``), read by the store's
own filter parser; ``order_by`` takes ``["metrics.acc DESC", ...]``.
"""

from __future__ import annotations

import re
from typing import Any

from dii_hpc.errors import NotSupported
from dii_hpc.mlflow._entities import TO_MLFLOW_STATUS, Run, artifact_uri, param_text
from dii_hpc.mlflow._fluent import _current_experiment, _store

_FIRST = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
_QUOTED_KEY = re.compile(r"""\b(params|metrics|tags|attributes?|attr)\.(?:"([^"]+)"|`([^`]+)`)""")
_ATTRIBUTE = re.compile(r"\b(?:attributes?|attr)\.(\w+)")
_UNSUPPORTED = re.compile(r"\b(I?LIKE|IN|IS)\b", re.IGNORECASE)


def search_runs(experiment_ids: list[str] | None = None, filter_string: str = "",
                run_view_type: int = 1, max_results: int = 100_000,
                order_by: list[str] | None = None, output_format: str = "pandas",
                search_all_experiments: bool = False,
                experiment_names: list[str] | None = None) -> Any:
    """Runs of the given experiments (default: the current one), newest first."""
    import pandas as pd

    store = _store()
    names = list(experiment_ids or []) + list(experiment_names or [])
    if search_all_experiments:
        names = store.experiments()
    elif not names:
        names = [_current_experiment()]
    frames = [store.runs(name) for name in names if name in store.experiments()]
    frames = [f for f in frames if len(f)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run_id"])
    df = _mlflow_columns(df, store.root)
    if filter_string.strip():
        from dii_hpc.store.query import apply_filter

        df = apply_filter(df, translate_filter(filter_string))
    df = _order(df, order_by or ["start_time DESC"]).head(max_results).reset_index(drop=True)
    empty = [c for c in df.columns if c not in _FIRST and df[c].isna().all()]
    df = df.drop(columns=empty)  # MLflow's columns come from the runs it returns
    if output_format == "list":
        return [Run.from_record(store.run(rid), store.root) for rid in df["run_id"]]
    if output_format != "pandas":
        raise NotSupported(f"search_runs(output_format={output_format!r}): use 'pandas' or 'list'")
    return df


def _mlflow_columns(df: Any, root: Any) -> Any:
    import pandas as pd

    out = pd.DataFrame({"run_id": df.get("run_id", pd.Series(dtype=object))})
    out["experiment_id"] = df.get("experiment")
    out["status"] = [TO_MLFLOW_STATUS.get(s, "FINISHED") for s in df.get("status", [])]
    out["artifact_uri"] = [artifact_uri(root, {"experiment": e, "run_id": r})
                           for e, r in zip(out["experiment_id"], out["run_id"], strict=True)]
    for col in ("start_time", "end_time"):
        out[col] = df.get(col)
    groups = {"metrics.": [], "params.": [], "tags.": []}
    for col in df.columns:
        for prefix in groups:
            if str(col).startswith(prefix):
                groups[prefix].append(col)
    extra = {c: df[c] for c in sorted(groups["metrics."])}
    extra.update({c: df[c].map(lambda v: None if _missing(v) else param_text(v))
                  for c in sorted(groups["params."])})
    extra.update({c: df[c] for c in sorted(groups["tags."])})
    return pd.concat([out, pd.DataFrame(extra, index=out.index)], axis=1)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def translate_filter(text: str) -> str:
    """MLflow's search syntax -> the store's filter language (the same comparisons)."""
    bad = _UNSUPPORTED.search(text)
    if bad:
        raise NotSupported(f"search_runs: filter operator {bad.group(1).upper()!r} is not "
                           "supported (use =, !=, <, <=, >, >= joined by AND/OR)")
    text = _QUOTED_KEY.sub(lambda m: f"{m.group(1)}.{m.group(2) or m.group(3)}", text)
    return _ATTRIBUTE.sub(lambda m: {"run_name": "tags.mlflow.runName",
                                     "run_id": "run_id"}.get(m.group(1), m.group(1)), text)


def _order(df: Any, order_by: list[str]) -> Any:
    if not len(df):
        return df
    cols, asc = [], []
    for clause in order_by:
        parts = clause.split()
        name = translate_filter(parts[0]).replace('"', "").replace("`", "")
        cols.append(name if name in df.columns else name.split(".", 1)[-1])
        asc.append(not (len(parts) > 1 and parts[1].upper() == "DESC"))
    cols = [c for c in cols if c in df.columns]
    if not cols:
        return df
    return df.sort_values(cols, ascending=asc[: len(cols)], na_position="last", kind="stable")
