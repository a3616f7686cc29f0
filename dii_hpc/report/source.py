"""Everything the report reads from the store, in one place.

The report never computes results: it reads run records, metric histories, artifact indexes
and log files through the Store API, and fingerprints each run's inputs so that a rebuild
re-renders only what changed.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

LOG_TAIL_BYTES = 32_768
LOG_TAIL_LINES = 200


class StoreReader(Protocol):
    """The part of `dii_hpc.store.store.Store` a report reads (it never writes a run)."""

    @property
    def root(self) -> Path: ...

    def experiments(self) -> list[str]: ...

    def run_ids(self, experiment: str) -> list[str]: ...

    def run(self, run_id: str) -> dict[str, Any]: ...

    def run_dir(self, run_id: str) -> Path: ...

    def artifacts(self, run_id: str) -> dict[str, dict[str, Any]]: ...

    def metric_keys(self, run_id: str) -> list[str]: ...

    def metric_array(self, run_id: str, key: str) -> np.ndarray: ...


@dataclass
class RunEntry:
    """One run as the report sees it: its run.json, artifact index and input fingerprint."""

    run_id: str
    record: dict[str, Any]
    artifacts: dict[str, dict[str, Any]]
    fingerprint: str
    log_files: list[Path] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return str(self.record.get("kind") or "train")

    @property
    def start(self) -> float:
        value = self.record.get("start_time")
        return float(value) if isinstance(value, (int, float)) else 0.0


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    return str(obj)


def digest(obj: Any) -> str:
    """Stable short hash of a JSON-able value (the unit of the incremental rebuild)."""
    text = json.dumps(obj, sort_keys=True, default=_jsonable, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def experiments(store: StoreReader, only: list[str] | None) -> list[str]:
    names = list(store.experiments())
    if not only:
        return sorted(names)
    from dii_hpc.errors import NotFound

    for name in only:
        if name not in names:
            raise NotFound("experiment", name, names)
    return [n for n in sorted(names) if n in only]


def run_ids(store: StoreReader, experiment: str) -> list[str]:
    """A directory listing, not `Store.runs`: no DataFrame for 1,000 runs."""
    return list(store.run_ids(experiment))


def _logs(store: StoreReader, run_id: str) -> list[Path]:
    folder = Path(store.run_dir(run_id)) / "logs"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def load_run(store: StoreReader, run_id: str) -> RunEntry:
    """Read one run; its fingerprint covers run.json, the artifact index and log file stats."""
    record = store.run(run_id)
    artifacts = dict(store.artifacts(run_id) or {})
    logs = _logs(store, run_id)
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in logs]
    fp = digest([record, {k: v.get("sha256") for k, v in artifacts.items()}, stats])
    return RunEntry(run_id, record, artifacts, fp, logs)


def load_experiment(store: StoreReader, experiment: str,
                    damaged: list[tuple[str, str]] | None = None) -> list[RunEntry]:
    """Every readable run of an experiment, oldest first; unreadable ones go to ``damaged``
    as (run id, reason) so that one torn record does not take the whole site down."""
    from dii_hpc.errors import DiiError

    runs = []
    for rid in run_ids(store, experiment):
        try:
            runs.append(load_run(store, rid))
        except (DiiError, OSError, ValueError) as err:
            if damaged is None:
                raise
            damaged.append((rid, str(err).splitlines()[0] if str(err) else type(err).__name__))
    runs.sort(key=lambda r: (r.start, r.run_id))
    return runs


def histories(store: StoreReader, run: RunEntry) -> dict[str, tuple[list[float], list[float]]]:
    """Every metric of a run as (steps, values) lists; unreadable metrics are skipped.

    ``metric_array`` (a bare numpy array), not ``metric_history``: building a DataFrame per
    metric was the largest cost of a 1,000-run build.  The keys are the ones run.json
    summarises (the tracking writes a key's summary with its points): walking the metric
    folders for them cost as much as reading the arrays; a run without a summary is walked.
    """
    import numpy as np

    from dii_hpc.errors import DiiError

    run_id = run.run_id
    summary = run.record.get("metrics")
    keys = list(summary) if isinstance(summary, dict) and summary else store.metric_keys(run_id)
    out: dict[str, tuple[list[float], list[float]]] = {}
    for key in keys:
        try:
            data = store.metric_array(run_id, key)
        except DiiError:
            continue
        steps = data[:, 0]  # a point logged without a step: use its position
        steps = np.where(np.isfinite(steps), steps, np.arange(len(steps)))
        out[key] = (steps.tolist(), data[:, 1].tolist())
    return out


def log_tail(path: Path) -> tuple[str, bool]:
    """The last lines of a log file, and whether older lines were cut."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size > LOG_TAIL_BYTES:
            fh.seek(size - LOG_TAIL_BYTES)
        data = fh.read()
    lines = data.decode("utf-8", "replace").splitlines()
    cut = size > LOG_TAIL_BYTES or len(lines) > LOG_TAIL_LINES
    if size > LOG_TAIL_BYTES:
        lines = lines[1:]  # first line is probably partial
    return "\n".join(lines[-LOG_TAIL_LINES:]), cut
