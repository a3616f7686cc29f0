"""The ``inference`` section of a run.json: one `dii-hpc predict` job (a deployment's run).

Written by `inference.job.predict` when the job ends; the report's models and deployment
pages and the registry read it (which model version served, how fast, on what device, the
last drift check of its monitor).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

SECTION = "inference"


class InferenceSection(BaseModel):
    model_config = ConfigDict(extra="allow")  # fields of a newer version are kept

    model: str  # the reference predicted with (models:/NAME/VERSION or a run's artifact)
    model_run: str | None = None  # the training run the weights came from
    weights_sha256: str | None = None
    rows: int
    rows_computed: int
    rows_per_s: float | None = None
    shards: int
    shards_requested: int | None = None
    computed: list[int] = []  # shards computed by this job
    skipped: list[int] = []  # shards an earlier job had done
    failed: dict[str, str] = {}  # shard -> its error line
    out: str  # the output folder
    outputs: dict[str, Any] = {}  # output name -> dtype and shape (the folder's manifest)
    executor: str
    array_job_id: str | None = None
    wall_seconds: float
    batch_size: int
    device: str | None = None
    monitor: str | None = None
    last_drift: dict[str, Any] | None = None  # the monitor's check of these predictions
    metrics: dict[str, float] = {}


class SectionWriter(Protocol):
    """What writes a section: `tracking.run.Run`."""

    def set_section(self, name: str, value: dict[str, Any]) -> None: ...


def of(record: Mapping[str, Any]) -> InferenceSection | None:
    """The run's inference section; None for a run that is no prediction job (or whose
    section is not one: an older or foreign run.json)."""
    raw = record.get(SECTION)
    if not isinstance(raw, dict):
        return None
    try:
        return InferenceSection.model_validate(raw)
    except ValidationError:
        return None


def write(run: SectionWriter, section: InferenceSection) -> None:
    run.set_section(SECTION, section.model_dump())
