"""The drift section of a run (``run.json["drift"]``): what a drift check found, typed.

A check (`dii-hpc drift check`, a monitor's nightly check, `predict --monitor`) builds a
`DriftSection`; the same object is what `--json` writes and what the run of kind "drift"
keeps. The registry's drift rule, the report's monitor pages and the inference run's
``last_drift`` read it back with `read`, never by string keys of their own.

Fields a producer did not set are left out when written (``dump``): a one-off check has no
``monitor`` or ``performance``, a check of model embeddings has no ``features``. Readers get
them as None / empty. Later producers add their parts as new optional fields here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

SECTION = "drift"  # the key of the section in run.json


class StatResult(BaseModel):
    """One test's outcome: a feature's, the predictions', or a multivariate test's."""

    model_config = ConfigDict(extra="allow")  # a multivariate test keeps its own details

    test: str
    statistic: float
    p_value: float | None = None
    threshold: float
    drift: bool


class FeatureResult(StatResult):
    """A per-feature (or prediction) result; ``p_adjusted`` when a correction applied."""

    type: str  # "numeric" | "categorical"
    n_reference: int | None = None
    n_current: int | None = None
    p_adjusted: float | None = None
    error: float | None = None  # from sketches: bound on |statistic - the exact statistic|


class Estimate(BaseModel):
    """One metric of a batch (or chunk) with its band: ``value`` +- 3 sampling errors of the
    reference at this many rows. ``alert``: an estimate outside the reference's band on the
    worse side (``limit`` is that side's edge)."""

    value: float
    lower: float
    upper: float
    alert: bool | None = None
    limit: float | None = None


class Calibration(BaseModel):
    """How well the reference's calibrated scores match its labels (CBPE rests on it):
    expected calibration error of the raw and the calibrated (cross-fitted) scores."""

    method: str
    ece_raw: float
    ece_calibrated: float
    ok: bool
    detail: str


class Chunk(BaseModel):
    """One chunk of a batch: ``n`` rows, ``start``..``end`` (a row chunk) or the period ``key``."""

    key: str
    n: int
    start: int | None = None
    end: int | None = None
    estimated: dict[str, Estimate] = {}
    realized: dict[str, Estimate] = {}


class Performance(BaseModel):
    """Metrics of the current batch against the reference's (``reference`` None: no baseline).

    ``current`` / ``degraded`` / ``drift``: with labels. ``estimated`` (CBPE for classifiers,
    DLE for regressors, ``method``) needs none; ``realized`` is the labelled value with the same
    band, kept beside the estimate (now, or later by `drift score`). ``alerts`` names the
    estimated or realized metrics outside the reference's band."""

    task: str
    reference: dict[str, float] | None = None
    current: dict[str, float] = {}
    degraded: list[str] = []
    max_drop: float | None = None
    drift: bool = False
    method: str | None = None
    estimated: dict[str, Estimate] = {}
    realized: dict[str, Estimate] = {}
    chunks: list[Chunk] = []
    calibration: Calibration | None = None
    alerts: list[str] = []


class QualityResult(BaseModel):
    """One data-quality rule on one column (``column`` None: the whole table)."""

    rule: str
    column: str | None = None
    status: Literal["ok", "fail"]
    detail: str = ""


class SketchInfo(BaseModel):
    """How a check from mergeable sketches (`drift check --sketch`) saw its data: the KLL
    ``k``, each side's normalised rank error (99 % confidence; 0 while a sketch holds every
    value), the files (shards) profiled, on Slurm the array tasks' peak memory, and the
    data-quality rules not run because they need rows (``duplicates``)."""

    k: int
    rank_error_reference: float
    rank_error_current: float
    reference_files: int = 1
    current_files: int = 1
    tasks: list[dict[str, Any]] = []
    quality_unchecked: list[str] = []


class AuditAlert(BaseModel):
    """The audit a drift alert started (``--on-drift-audit``) and how it ended."""

    config: str
    command: list[str]
    exit_code: int


class DriftSection(BaseModel):
    """What one drift check found."""

    model_config = ConfigDict(extra="allow")

    drift: bool                      # the verdict (data, prediction or performance drift)
    rule: str | None = None          # the batch rule, e.g. "share>=0.5"
    share_drifted: float | None = None  # None only in a damaged record
    n_drifted: int = 0
    n_features: int = 0
    n_reference: int = 0
    n_current: int = 0
    alpha: float | None = None
    correction: str | None = None
    features: dict[str, FeatureResult] = {}
    multivariate: dict[str, StatResult] = {}  # mmd, domain_classifier, embedding_mmd
    data_drift: bool | None = None   # the features' (or embeddings') verdict alone
    prediction: FeatureResult | None = None
    performance: Performance | None = None
    sketch: SketchInfo | None = None  # a check from sketches
    data_quality: list[QualityResult] = []
    monitor: str | None = None
    reference: str | None = None
    current: str | None = None
    audit: AuditAlert | None = None
    run_id: str | None = None
    inference_run: str | None = None  # set by `predict --monitor` / `predict score`
    out: str | None = None
    score: bool | None = None
    _arrays: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)

    def dump(self) -> dict[str, Any]:
        """The JSON form (what `--json` writes and run.json keeps): the fields that were set."""
        return self.model_dump(exclude_unset=True)

    def keep_arrays(self, name: str, arrays: dict[str, Any]) -> None:
        """Arrays the check's run keeps as artifact ``name`` (not part of the JSON)."""
        if arrays:
            self._arrays[name] = arrays

    def kept_arrays(self) -> dict[str, dict[str, Any]]:
        return dict(self._arrays)

    def quality_failures(self) -> list[QualityResult]:
        """The data-quality rules that failed (each one makes the check exit 1)."""
        return [q for q in self.data_quality if q.status == "fail"]


class SectionWriter(Protocol):
    """What a producer writes the section into (a tracking run)."""

    def set_section(self, name: str, value: Any) -> None: ...


def write(run: SectionWriter, section: DriftSection) -> None:
    """Keep ``section`` as the run's drift section."""
    run.set_section(SECTION, section.dump())


def add_audit(store: Store, run_id: str, audit: AuditAlert) -> None:
    """Add the alert's audit to a stored check's section."""
    store.update_run(run_id, **{SECTION: {"audit": audit.model_dump()}})


def parse(value: Any) -> DriftSection | None:
    """A section from its JSON form. A part that does not read (a feature, a multivariate
    test, the performance of a damaged or older record) is left out and the rest kept; None
    when the section itself is missing or has no verdict. A listing never crashes on one run."""
    if not isinstance(value, Mapping):
        return None
    data: dict[str, Any] = dict(value)
    for _ in range(_ROUNDS):
        try:
            return DriftSection.model_validate(data)
        except ValidationError as err:
            if not _prune(data, err):
                return None
    return None


_ROUNDS = 4
_MAPPINGS = ("features", "multivariate")  # parts whose entries are left out one by one


def _prune(data: dict[str, Any], err: ValidationError) -> bool:
    """Leave out the parts ``err`` names; False when a required field itself is at fault."""
    faults = {tuple(e["loc"][:2]) if e["loc"] and e["loc"][0] in _MAPPINGS else tuple(e["loc"][:1])
              for e in err.errors()}
    for fault in faults:
        if not fault or fault[0] == "drift" or fault[0] not in data:
            return False
        part = data[fault[0]]
        if len(fault) == 2 and isinstance(part, dict):
            data[fault[0]] = {k: v for k, v in part.items() if k != fault[1]}
        else:
            data.pop(fault[0])
    return True


def read(record: Mapping[str, Any]) -> DriftSection | None:
    """The drift section of a run record (``store.run(id)`` / ``store.records()``)."""
    return parse(record.get(SECTION))
