"""Where a pipeline keeps its records: one file per stage, each written whole (atomic).

    <store>/pipelines/<id>/pipeline.json        spec (paths resolved), order, stage keys,
                                                executor, code version; written by submit/resume
    <store>/pipelines/<id>/stages/<stage>.json  state, jobs, reused, outputs, runs, error;
                                                written at submit, then by the stage's own job
                                                (or by `status` for stages Slurm cancelled)
    <store>/pipelines/<id>/submitit/<stage>/    submitit's folder (pickles, job logs)
    <store>/pipelines/<id>/cancel.json          `pipeline cancel`'s request: stages, why
    <store>/pipelines/cache/<key>.json          the outcome of a stage that finished (`cache`)
    <store>/pipelines/work/<name>/              ``{work}``: files stages hand on, per pipeline name

Stage files have one writer at a time (the submitter before the job starts, the job while it
runs), so no lock is needed; reads go through `read_json` (settled) (GlusterFS renames).
States are the run statuses of `dii_hpc.vocabulary`. `pipeline cancel` writes its request
before it signals any job (as `records.request_cancel` does for a run): a stage it names that
has not FINISHED is then recorded CANCELLED whoever writes its end (`write_stage`), not FAILED
by a job whose command the signal ended.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import NotFound

ROOT = "pipelines"
CANCEL_FILE = "cancel.json"
CANCELLED_WHY = "cancelled by `dii-hpc pipeline cancel`"


def root(store_root: str | Path) -> Path:
    return Path(store_root) / ROOT


def folder(store_root: str | Path, pipeline_id: str) -> Path:
    return root(store_root) / pipeline_id


def work_dir(store_root: str | Path, name: str) -> Path:
    return root(store_root) / "work" / name


def ids(store_root: str | Path) -> list[str]:
    """Pipeline ids of the store, oldest first (ids sort by time)."""
    base = root(store_root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "pipeline.json").is_file())


def resolve_id(store_root: str | Path, text: str) -> str:
    """A full id from a unique prefix (as run ids are typed)."""
    known = ids(store_root)
    if text in known:
        return text
    hits = [i for i in known if i.startswith(text.upper())] if text else []
    if len(hits) == 1:
        return hits[0]
    raise NotFound("pipeline", text, known)


def write_pipeline(store_root: str | Path, record: dict[str, Any]) -> None:
    from dii_hpc.store.atomic import write_json

    write_json(folder(store_root, record["id"]) / "pipeline.json", record)


def read_pipeline(store_root: str | Path, pipeline_id: str) -> dict[str, Any]:
    from dii_hpc.store.atomic import read_json

    return read_json(folder(store_root, resolve_id(store_root, pipeline_id)) / "pipeline.json")


def stage_file(store_root: str | Path, pipeline_id: str, stage: str) -> Path:
    return folder(store_root, pipeline_id) / "stages" / f"{stage}.json"


def read_stage(store_root: str | Path, pipeline_id: str, stage: str) -> dict[str, Any]:
    from dii_hpc.store.atomic import read_json

    path = stage_file(store_root, pipeline_id, stage)
    return read_json(path) if path.is_file() else {"stage": stage, "state": None}


def request_cancel(store_root: str | Path, pipeline_id: str, stages: list[str]) -> None:
    """Note that `pipeline cancel` stops ``stages`` (before any job is signalled)."""
    from dii_hpc.store.atomic import write_json

    write_json(folder(store_root, pipeline_id) / CANCEL_FILE, {"time": time.time(),
                                                              "stages": sorted(stages)})


def clear_cancel(store_root: str | Path, pipeline_id: str) -> None:
    """A resumed pipeline is no longer cancelled."""
    (folder(store_root, pipeline_id) / CANCEL_FILE).unlink(missing_ok=True)


def cancel_requested(store_root: str | Path, pipeline_id: str, stage: str) -> bool:
    from dii_hpc.store.atomic import read_json

    path = folder(store_root, pipeline_id) / CANCEL_FILE
    try:
        return stage in (read_json(path).get("stages") or [])
    except (OSError, ValueError):
        return False


def write_stage(store_root: str | Path, pipeline_id: str, stage: str,
                **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the stage's record (read, update, atomic write); a state other
    than FINISHED of a stage whose cancel was requested is written CANCELLED, for that reason."""
    from dii_hpc.store.atomic import write_json

    if fields.get("state") not in (None, vocab.FINISHED) and cancel_requested(
            store_root, pipeline_id, stage):
        fields = {**fields, "state": vocab.CANCELLED, "error": CANCELLED_WHY,
                  "end_time": fields.get("end_time") or time.time()}
    record = {**read_stage(store_root, pipeline_id, stage), **fields, "stage": stage,
              "updated": time.time()}
    write_json(stage_file(store_root, pipeline_id, stage), record)
    return record


def stages(store_root: str | Path, pipeline_id: str, names: list[str]) -> dict[str, dict[str, Any]]:
    return {n: read_stage(store_root, pipeline_id, n) for n in names}
