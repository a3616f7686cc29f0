"""The JSON API of `dii-hpc ui`: runs, histories, logs and the store's other listings.

Every handler only reads, through the store, registry and records APIs (the same readers the
CLI uses), and answers standard JSON written by the one encoder (`store.atomic.dumps`: NaN
and inf as strings). Run rows are the cells of `runs list --format json`; the filter is the
`--filter` grammar (`store.query`), the rows come from the server's `RunsCache`.

    GET /api/experiments                              names, run counts, statuses
    GET /api/experiments/{name}/runs                  ?filter= &sort= &asc= &offset= &limit= &kind=
    GET /api/runs/{id}                                run.json, artifacts, metric keys, logs
    GET /api/runs/{id}/metrics/{key}                  ?width= (default 600) | ?full=1, ?since=STEP
    GET /api/runs/{id}/logs/{name}                    ?bytes= (the tail; default 32 KiB)
    GET /api/runs/{id}/updates                        ?since={"key": step, ...} (see live.py)
    GET /api/audits | /api/models[/{name}] | /api/pipelines[/{id}] | /api/monitors[/{name}]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput
from dii_hpc.ui.security import confined

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store
    from dii_hpc.ui.listing import RunsCache

PAGE = 50
MAX_PAGE = 1000
LOG_TAIL_BYTES = 32_768
MAX_LOG_BYTES = 4 << 20


def int_arg(args: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole-number query argument within [low, high]; anything else is a 400."""
    text = args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError as err:
        raise BadInput(f"{name}={text!r}: expected a whole number") from err
    if not low <= value <= high:
        raise BadInput(f"{name}={value}: must be between {low} and {high}")
    return value


def flag(args: dict[str, str], name: str) -> bool:
    return args.get(name, "").lower() in ("1", "true", "yes", "on")


# ------------------------------------------------------------------------- experiments
def experiments(cache: RunsCache) -> list[dict[str, Any]]:
    out = []
    for name in cache.store.experiments():
        frame = cache.frame(name)
        counts = frame["status"].value_counts().to_dict() if len(frame) else {}
        out.append({"name": name, "runs": len(frame),
                    "statuses": {str(k): int(v) for k, v in counts.items()}})
    return out


def runs_page(cache: RunsCache, experiment: str, args: dict[str, str]) -> bytes:
    """A filtered, sorted page of an experiment's runs, as `runs list --format json` cells."""
    from dii_hpc.cells import frame_json
    from dii_hpc.store.query import apply_filter, sort_runs
    from dii_hpc.vocabulary import KINDS

    offset = int_arg(args, "offset", 0, 0, 10**9)
    limit = int_arg(args, "limit", PAGE, 0, MAX_PAGE)
    kind = args.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise BadInput(f"kind={kind!r}: expected one of {', '.join(KINDS)}")
    df = cache.frame(experiment)
    total = len(df)
    if kind is not None:
        df = df[df["kind"] == kind]
    if args.get("filter"):
        df = apply_filter(df, args["filter"])
    if args.get("sort") and len(df):
        df = sort_runs(df, args["sort"], ascending=flag(args, "asc"))
    page = df.iloc[offset:offset + limit]
    rows = frame_json(page)
    head = json.dumps({"experiment": experiment, "total": total, "matched": len(df),
                       "offset": offset, "limit": limit, "columns": [str(c) for c in df.columns]})
    return (head[:-1] + ',"runs":' + rows + "}").encode()


# ------------------------------------------------------------------------- one run
def log_files(store: Store, run_id: str) -> list[Path]:
    """The run's log files (under ``logs/``), each inside the store once resolved."""
    from dii_hpc.ui.security import Forbidden

    folder = Path(store.run_dir(run_id)) / "logs"
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.rglob("*")):
        try:
            if not path.name.startswith(".") and readable_log(store, folder, path).is_file():
                out.append(path)
        except (Forbidden, OSError):
            continue  # a link out of the run's logs is neither listed nor read
    return out


def readable_log(store: Store, folder: Path, path: Path) -> Path:
    """``path`` resolved, which must stay in the store and in the run's logs folder (a link
    to another run's files or out of the store is Forbidden)."""
    confined(store.root, path)
    return confined(folder, path)


def run(store: Store, run_id: str) -> dict[str, Any]:
    record = store.run(run_id)
    rid = record["run_id"]
    logs = log_files(store, rid)
    folder = Path(store.run_dir(rid)) / "logs"
    return {"run": record,
            "artifacts": {k: {"sha256": v.get("sha256"), "size": v.get("size")}
                          for k, v in store.artifacts(rid).items()},
            "metric_keys": store.metric_keys(rid),
            "logs": [{"name": p.relative_to(folder).as_posix(), "size": p.stat().st_size}
                     for p in logs]}


def metric(store: Store, run_id: str, key: str, args: dict[str, str]) -> dict[str, Any]:
    from dii_hpc.ui.series import DEFAULT_WIDTH, MAX_WIDTH, series

    width = int_arg(args, "width", DEFAULT_WIDTH, 1, MAX_WIDTH)
    since = None
    if args.get("since"):
        try:
            since = float(args["since"])
        except ValueError as err:
            raise BadInput(f"since={args['since']!r}: expected a step number") from err
    rid = store.run(run_id)["run_id"]
    return series(store, rid, key, width=width, full=flag(args, "full"), since=since).as_json()


def log_tail(store: Store, run_id: str, name: str, args: dict[str, str]) -> dict[str, Any]:
    """The last ``bytes`` of one log file of the run; a name that leaves the run's logs
    folder, or a link to a file outside the store, is refused (Forbidden)."""
    from dii_hpc.errors import NotFound

    size = int_arg(args, "bytes", LOG_TAIL_BYTES, 1, MAX_LOG_BYTES)
    rid = store.run(run_id)["run_id"]
    folder = Path(store.run_dir(rid)) / "logs"
    path = readable_log(store, folder, folder / name)
    if not path.is_file():
        raise NotFound(f"log of run {rid}:", name,
                       [p.relative_to(folder).as_posix() for p in log_files(store, rid)])
    return {"name": name, **tail(path, size)}


def tail(path: Path, size: int) -> dict[str, Any]:
    """The last ``size`` bytes of a file (from a line start when cut), and its size."""
    total = path.stat().st_size
    with open(path, "rb") as fh:
        if total > size:
            fh.seek(total - size)
        data = fh.read(size)
    cut = total > size
    if cut and b"\n" in data:
        data = data[data.index(b"\n") + 1:]  # the first line is probably partial
    return {"size": total, "cut": cut, "text": data.decode("utf-8", "replace")}


# ------------------------------------------------------------------------- other listings
def audits(cache: RunsCache) -> list[dict[str, Any]]:
    """Audit runs of every experiment, newest first, as run rows."""
    from dii_hpc.cells import frame_json

    out: list[dict[str, Any]] = []
    for name in cache.store.experiments():
        frame = cache.frame(name)
        found = frame[frame["kind"] == "audit"]
        if len(found):
            out.extend(json.loads(frame_json(found.dropna(axis=1, how="all"))))
    return sorted(out, key=lambda r: str(r.get("run_id")), reverse=True)


def models(store: Store) -> list[dict[str, Any]]:
    from dii_hpc.registry.registry import Registry

    return Registry(store).summary()


def model(store: Store, name: str) -> dict[str, Any]:
    from dii_hpc.registry.registry import Registry

    reg = Registry(store)
    return reg.show(reg.check_model(name))


def pipelines(store: Store) -> list[dict[str, Any]]:
    from dii_hpc.records import pipeline as records

    out = []
    for pid, (rec, stages) in records.load_all(store.root).items():
        out.append({"id": pid, "name": rec.name, "executor": rec.executor,
                    "created": rec.created, "stages": len(rec.order),
                    "state": records.combine([s.shown_state for s in stages.values()])})
    return list(reversed(out))


def pipeline(store: Store, pipeline_id: str) -> dict[str, Any]:
    from dii_hpc.records import pipeline as records

    pid = records.resolve_id(store.root, pipeline_id)
    rec = records.read_pipeline(store.root, pid)
    return {"id": pid, "pipeline": rec.model_dump(mode="json"),
            "stages": {n: s.model_dump(mode="json")
                       for n, s in records.stages(store.root, pid, rec.order).items()}}


def monitors(store: Store) -> list[dict[str, Any]]:
    from dii_hpc.records import monitor as monitor_record

    out = []
    for name in monitor_record.names(store):
        prof = monitor_record.read(store, name)
        out.append({"name": name, "kind": prof.kind, "created": prof.created,
                    "source": prof.source, "n_rows": prof.n_rows, "model": prof.model,
                    "task": prof.task})
    return out


def monitor(store: Store, name: str) -> dict[str, Any]:
    from dii_hpc.records import monitor as monitor_record

    return monitor_record.read(store, name).model_dump()
