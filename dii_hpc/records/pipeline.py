"""A pipeline's records: where they live, their typed shape, their readers and writers, and
THE roll-up of stage states (what `pipeline status` and the report both say).

    <store>/pipelines/<id>/pipeline.json        `PipelineRecord`: spec (paths resolved), order,
                                                stage keys, executor, code version (submit/resume)
    <store>/pipelines/<id>/stages/<stage>.json  `StageRecord`: state, jobs, reused, outputs,
                                                runs, error; written at submit, then by the
                                                stage's own job (or `status` for what Slurm ended)
    <store>/pipelines/<id>/submitit/<stage>/    submitit's folder of a stage job (pickles, logs)
    <store>/pipelines/<id>/cancel.json          `pipeline cancel`'s request: stages, time
    <store>/pipelines/cache/<key>.json          `CachedOutcome` of a stage that finished
    <store>/pipelines/work/<name>/              ``{work}``: files stages hand on, per pipeline name

Stage files have one writer at a time (the submitter before the job starts, the job while it
runs), so no lock is needed; each is written whole (atomic) and read through `read_json`
(settled: GlusterFS renames). States are the run statuses of `dii_hpc.vocabulary`.
`pipeline cancel` writes its request before it signals any job (as a run's ``cancel.json``):
a stage it names that has not FINISHED is then recorded CANCELLED whoever writes its end
(`write_stage`), not FAILED by a job whose command the signal ended.

The pipeline package writes these; the CLI and the report read them here (the report never
imports the pipeline package). ``spec`` stays a mapping: the pipeline package parses it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import NotFound, StoreError

ROOT = "pipelines"
CANCEL_FILE = "cancel.json"
CANCELLED_WHY = "cancelled by `dii-hpc pipeline cancel`"


# ------------------------------------------------------------------ paths
def root(store_root: str | Path) -> Path:
    return Path(store_root) / ROOT


def folder(store_root: str | Path, pipeline_id: str) -> Path:
    return root(store_root) / pipeline_id


def work_dir(store_root: str | Path, name: str) -> Path:
    return root(store_root) / "work" / name


def pipeline_file(store_root: str | Path, pipeline_id: str) -> Path:
    return folder(store_root, pipeline_id) / "pipeline.json"


def stage_file(store_root: str | Path, pipeline_id: str, stage: str) -> Path:
    return folder(store_root, pipeline_id) / "stages" / f"{stage}.json"


def job_folder(store_root: str | Path, pipeline_id: str, stage: str) -> Path:
    """submitit's folder of a stage's own job."""
    return folder(store_root, pipeline_id) / "submitit" / stage


def cache_file(store_root: str | Path, key: str) -> Path:
    return root(store_root) / "cache" / f"{key}.json"


# ------------------------------------------------------------------ records
class PipelineRecord(BaseModel):
    """pipeline.json: what was submitted (written by submit and resume)."""

    model_config = ConfigDict(extra="allow")  # fields of newer versions are kept

    id: str
    name: str
    executor: str
    order: list[str]
    spec: dict[str, Any] = Field(default_factory=dict)  # `pipeline.spec.Pipeline.to_dict()`
    keys: dict[str, str] = Field(default_factory=dict)
    depths: dict[str, int] = Field(default_factory=dict)
    source: str | None = None
    store: str | None = None
    code: dict[str, Any] = Field(default_factory=dict)
    git: dict[str, Any] = Field(default_factory=dict)
    created: float | None = None
    host: str | None = None
    submissions: list[dict[str, Any]] = Field(default_factory=list)

    def needs(self) -> dict[str, list[str]]:
        """stage -> the stages it needs, as the spec records them."""
        return {s["name"]: list(s.get("needs") or []) for s in self.spec.get("stages") or []}

    def kind_of(self, stage: str) -> str | None:
        return next((s.get("kind") for s in self.spec.get("stages") or []
                     if s.get("name") == stage), None)


class StageRecord(BaseModel):
    """stages/<stage>.json: one stage's state and outcome."""

    model_config = ConfigDict(extra="allow", validate_assignment=False)

    stage: str
    state: str | None = None  # None: not written yet (PENDING to readers)
    kind: str | None = None
    key: str | None = None
    reused: bool = False
    reused_from: str | None = None
    jobs: list[str] = Field(default_factory=list)
    dependency: str | None = None
    outputs: dict[str, Any] | None = None
    runs: list[str] = Field(default_factory=list)
    error: str | None = None
    submitted: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    updated: float | None = None
    host: str | None = None
    slurm_job_id: str | None = None

    @property
    def shown_state(self) -> str:
        return self.state or vocab.PENDING


class CachedOutcome(BaseModel):
    """cache/<key>.json: the outcome of a stage that finished, kept under its key."""

    model_config = ConfigDict(extra="allow")

    outputs: dict[str, Any] = Field(default_factory=dict)
    runs: list[str] = Field(default_factory=list)
    pipeline: str | None = None
    stage: str | None = None
    finished: float | None = None


# ------------------------------------------------------------------ pipelines
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


def write_pipeline(store_root: str | Path, record: PipelineRecord) -> None:
    from dii_hpc.store.atomic import write_json

    write_json(pipeline_file(store_root, record.id), record.model_dump(mode="json"))


def read_pipeline(store_root: str | Path, pipeline_id: str) -> PipelineRecord:
    """The record of ``pipeline_id`` (a unique prefix is enough)."""
    from dii_hpc.store.atomic import read_json

    path = pipeline_file(store_root, resolve_id(store_root, pipeline_id))
    try:
        return PipelineRecord.model_validate(read_json(path))
    except ValidationError as err:
        raise StoreError(f"{path}: not a pipeline record ({err.errors()[0]['msg']})") from err


# ------------------------------------------------------------------ stages
def read_stage(store_root: str | Path, pipeline_id: str, stage: str) -> StageRecord:
    """The stage's record (state None when nothing was written yet)."""
    from dii_hpc.store.atomic import read_json

    path = stage_file(store_root, pipeline_id, stage)
    if not path.is_file():
        return StageRecord(stage=stage)
    return StageRecord.model_validate({**read_json(path), "stage": stage})


def stages(store_root: str | Path, pipeline_id: str, names: list[str]) -> dict[str, StageRecord]:
    return {n: read_stage(store_root, pipeline_id, n) for n in names}


def write_stage(store_root: str | Path, pipeline_id: str, stage: str,
                **fields: Any) -> StageRecord:
    """Merge ``fields`` into the stage's record (read, update, atomic write); a state other
    than FINISHED of a stage whose cancel was requested is written CANCELLED, for that reason."""
    from dii_hpc.store.atomic import write_json

    unknown = set(fields) - set(StageRecord.model_fields)
    if unknown:
        raise TypeError(f"not a field of a stage record: {', '.join(sorted(unknown))}")
    if fields.get("state") not in (None, vocab.FINISHED) and cancel_requested(
            store_root, pipeline_id, stage):
        fields = {**fields, "state": vocab.CANCELLED, "error": CANCELLED_WHY,
                  "end_time": fields.get("end_time") or time.time()}
    current = read_stage(store_root, pipeline_id, stage).model_dump()
    record = StageRecord.model_validate({**current, **fields, "stage": stage,
                                         "updated": time.time()})
    write_json(stage_file(store_root, pipeline_id, stage), record.model_dump(mode="json"))
    return record


# ------------------------------------------------------------------ cancel requests
def request_cancel(store_root: str | Path, pipeline_id: str, names: list[str]) -> None:
    """Note that `pipeline cancel` stops ``names`` (before any job is signalled)."""
    from dii_hpc.store.atomic import write_json

    write_json(folder(store_root, pipeline_id) / CANCEL_FILE, {"time": time.time(),
                                                              "stages": sorted(names)})


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


# ------------------------------------------------------------------ cached outcomes
def read_cached(store_root: str | Path, key: str) -> CachedOutcome | None:
    """The outcome saved under ``key`` (None when no stage with that key finished)."""
    from dii_hpc.store.atomic import read_json

    path = cache_file(store_root, key)
    if not path.is_file():
        return None
    try:
        return CachedOutcome.model_validate(read_json(path))
    except (OSError, ValueError):  # a torn or foreign file: run the stage again
        return None


def write_cached(store_root: str | Path, key: str, outcome: CachedOutcome) -> None:
    from dii_hpc.store.atomic import write_json

    write_json(cache_file(store_root, key), outcome.model_dump(mode="json"))


# ------------------------------------------------------------------ the roll-up
_BAD_FIRST = (vocab.FAILED, vocab.OUT_OF_MEMORY, vocab.TIMEOUT, vocab.NODE_FAIL, vocab.PREEMPTED,
              vocab.KILLED)


def combine(states: list[str]) -> str:
    """One state for a stage's jobs (or a pipeline's stages): a failure first, then
    CANCELLED, then what still moves, FINISHED when all did."""
    for bad in _BAD_FIRST:
        if bad in states:
            return bad
    for word in (vocab.CANCELLED, vocab.RUNNING, vocab.PENDING):
        if word in states:
            if word == vocab.PENDING and vocab.FINISHED in states:
                return vocab.RUNNING  # some jobs ended, the rest wait: under way
            return word
    return vocab.FINISHED if states else vocab.PENDING


def overall(states: list[str]) -> str:
    """A pipeline's state: RUNNING (PENDING) while a stage still moves, then its stages'."""
    if any(s in vocab.ACTIVE for s in states):
        return vocab.PENDING if all(s == vocab.PENDING for s in states) else vocab.RUNNING
    return combine(states)


def state_of(records: dict[str, StageRecord]) -> str:
    """The pipeline's state from its stages' records as last written."""
    return overall([r.shown_state for r in records.values()])


# ------------------------------------------------------------------ every pipeline
def load_all(store_root: str | Path) -> dict[str, tuple[PipelineRecord, dict[str, StageRecord]]]:
    """id -> (its record, its stages' records) for every readable pipeline, oldest first
    (a damaged record is skipped: a listing shows what it can)."""
    out: dict[str, tuple[PipelineRecord, dict[str, StageRecord]]] = {}
    for pid in ids(store_root):
        try:
            record = read_pipeline(store_root, pid)
            out[pid] = (record, stages(store_root, pid, record.order))
        except (OSError, ValueError, StoreError):
            continue
    return out
