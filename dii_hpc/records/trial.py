"""The ``trial`` section of a run.json: the run of one trial of an adaptive sweep.

Written by the study's worker (`launch.optimize.trials`) when the trial's run starts
(number, metric, direction, worker, the space's kinds) and when it ends (state, value, why
it was pruned or failed); read by the study (`launch.optimize.study`: a trial whose worker
died is told from its run) and by the report's study panel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

SECTION = "trial"


class TrialSection(BaseModel):
    model_config = ConfigDict(extra="allow")  # fields of a newer version are kept

    number: int
    metric: str
    direction: Literal["minimize", "maximize"]
    worker: str  # <submission>/<index>
    space: dict[str, str] = {}  # key -> its kind (log_uniform, uniform, int, choice)
    retry_of: int | None = None  # the trial lost with its worker that this one asks again
    state: Literal["COMPLETE", "PRUNED", "FAIL"] | None = None  # None while it runs
    value: float | None = None
    pruned: str | None = None  # why the pruner stopped it
    error: str | None = None  # the user's failure, one line


class SectionWriter(Protocol):
    """What writes a section: `tracking.run.Run`."""

    record: dict[str, Any]

    def set_section(self, name: str, value: dict[str, Any], *, save: bool = True) -> None: ...


def of(record: Mapping[str, Any]) -> TrialSection | None:
    """The run's trial section; None for a run that is no trial (or whose section is not
    one: an older or foreign run.json)."""
    raw = record.get(SECTION)
    if not isinstance(raw, dict):
        return None
    try:
        return TrialSection.model_validate(raw)
    except ValidationError:
        return None


def write(run: SectionWriter, section: TrialSection, *, save: bool = True) -> None:
    run.set_section(SECTION, section.model_dump(exclude_none=True), save=save)


def end(run: SectionWriter, *, save: bool = True, **result: Any) -> None:
    """The trial's end (state, value, pruned, error) added to the section the run has
    (``save=False``: written by the run's end, which follows)."""
    section = of(run.record)
    if section is None:  # ended before its section was written: keep what there is
        run.set_section(SECTION, {**(run.record.get(SECTION) or {}), **result}, save=save)
    else:
        write(run, section.model_copy(update=result), save=save)
