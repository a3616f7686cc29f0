"""``search_runs``: the store's run table with MLflow's column names, value types and filters.

Columns as MLflow returns them: run_id, experiment_id, status, artifact_uri, start_time,
end_time (UTC datetimes), then metrics.*, params.* (strings, as MLflow stores params: a
param logged as 1 is '1') and tags.*; a run without a param or tag has NaN there, as in
MLflow's table.
``filter_string`` and ``order_by`` take MLflow's syntax with MLflow's meaning (``_filter``):
``metrics.acc > 0.9 AND params.lr = '0.01'``, ``run_name = 'x'``, ``tags."mlflow.user" LIKE
'a%'``, ``["metrics.acc DESC"]``.
"""

from __future__ import annotations

import math
from typing import Any

from dii_hpc.errors import NotSupported
from dii_hpc.mlflow import _filter
from dii_hpc.mlflow._entities import TO_MLFLOW_STATUS, Run, artifact_uri, param_text
from dii_hpc.mlflow._fluent import _current_experiment, _store

_FIRST = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]


def search_runs(experiment_ids: list[str] | None = None, filter_string: str = "",
                run_view_type: int = 1, max_results: int = 100_000,
                order_by: list[str] | None = None, output_format: str = "pandas",
                search_all_experiments: bool = False,
                experiment_names: list[str] | None = None) -> Any:
    """Runs of the given experiments (default: the current one), newest first."""
    import pandas as pd

    if output_format not in ("pandas", "list"):
        raise NotSupported(f"search_runs(output_format={output_format!r}): use 'pandas' or 'list'")
    clauses = _filter.parse(filter_string)  # a bad filter fails before anything is read
    orders = [_filter.order(clause) for clause in order_by or ["start_time DESC"]]
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
    if clauses:
        df = df[_filter.matches(df, clauses)]
    df = _order(df, orders).head(max_results).reset_index(drop=True)
    empty = [c for c in df.columns if c not in _FIRST and df[c].isna().all()]
    df = df.drop(columns=empty)  # MLflow's columns come from the runs it returns
    if output_format == "list":
        return [Run.from_record(store.run(rid), store.root) for rid in df["run_id"]]
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
    groups: dict[str, list[str]] = {"metrics.": [], "params.": [], "tags.": []}
    for col in df.columns:
        for prefix in groups:
            if str(col).startswith(prefix):
                groups[prefix].append(col)
    extra = {c: df[c] for c in sorted(groups["metrics."])}
    for prefix in ("params.", "tags."):  # strings; NaN where a run lacks one, as in MLflow's
        extra.update({c: pd.Series([math.nan if _missing(v) else param_text(v) for v in df[c]],
                                   index=df.index, dtype=object) for c in sorted(groups[prefix])})
    return pd.concat([out, pd.DataFrame(extra, index=out.index)], axis=1)


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or dict param is a value
        return False


def _order(df: Any, orders: list[tuple[Any, bool]]) -> Any:
    """Sort by each (values, ascending) in turn; runs without the value last, as MLflow."""
    if not len(df):
        return df
    keys = {f"__order{i}": values(df) for i, (values, _) in enumerate(orders)}
    ordered = df.assign(**keys).sort_values(list(keys), ascending=[asc for _, asc in orders],
                                            na_position="last", kind="stable")
    return ordered.drop(columns=list(keys))
