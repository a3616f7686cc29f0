"""Writing runs that come from elsewhere into the store, keeping the source's own times.

Tracking's ``Run`` stamps each point with the time it is logged; an imported point keeps the
time its source recorded, so this writes through the store's ``MetricWriter`` directly.
Idempotent: every imported run carries its source's identity in the tag ``import.id``
(``mlflow:<run id>``, ``tensorboard:<run folder>``); a later import finds that run and adds
only the points past each key's last stored step - the same watermark that keeps a
requeued run from duplicating steps - so a second import of the same source adds nothing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.store import records
from dii_hpc.store.names import check_experiment

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from dii_hpc.store.store import Store

ID_TAG = "import.id"
FROM_TAG = "import.from"
_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.\-+=@:,% ]")


@dataclass
class Incoming:
    """One run as a source describes it; metrics are (n, 3) arrays of step, value, time (s)."""

    source_id: str
    origin: str
    experiment: str
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "FINISHED"
    start_time: float | None = None
    end_time: float | None = None
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    artifacts: list[tuple[str, Path]] = field(default_factory=list)


@dataclass
class Outcome:
    """What an import did; the CLI prints it."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    points: int = 0
    artifacts: int = 0
    renamed: dict[str, str] = field(default_factory=dict)  # source key -> stored key
    run_ids: dict[str, str] = field(default_factory=dict)  # source id -> dii-hpc run id

    def summary(self, what: str) -> str:
        text = (f"{what}: {self.created} runs imported, {self.updated} updated, "
                f"{self.skipped} already present; {self.points} metric points, "
                f"{self.artifacts} artifacts")
        if self.renamed:
            pairs = ", ".join(f"{a!r} -> {b!r}" for a, b in sorted(self.renamed.items())[:5])
            text += f"; renamed keys {pairs}"
        return text


def safe_experiment(name: str) -> str:
    """A source's experiment name as a dii-hpc one (no slashes or spaces)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-+=@,]", "_", name).lstrip(".") or "imported"
    if not cleaned[0].isalnum() and cleaned[0] != "_":
        cleaned = "_" + cleaned
    return check_experiment(cleaned[:200])


def safe_keys(keys: list[str]) -> dict[str, str]:
    """Source key -> a storable key: odd characters become ``_``, and a key that is also the
    folder of others (TensorBoard's ``loss`` beside ``loss/train``) gets ``/value`` appended."""
    out = {}
    for key in keys:
        segs = [_BAD_CHARS.sub("_", s).lstrip(".") or "_" for s in key.strip("/").split("/")]
        out[key] = "/".join(s if s != ".." else "_" for s in segs) or "_"
    stored = set(out.values())
    for key, new in out.items():
        if any(other.startswith(new + "/") for other in stored):
            out[key] = new + "/value"
    return out


class Ingest:
    """Writes ``Incoming`` runs into a store, finding the ones a previous import wrote."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure_writable()
        self.known: dict[str, dict[str, Any]] = {}
        for exp in store.experiments():
            for rec in store.records(exp):
                sid = (rec.get("tags") or {}).get(ID_TAG)
                if sid:
                    self.known[sid] = rec
        self.outcome = Outcome()

    def unchanged(self, source_id: str, status: str, end_time: float | None) -> bool:
        """True when this source run was imported after it had already ended as it is now."""
        rec = self.known.get(source_id)
        return (rec is not None and rec.get("status") == status
                and rec.get("end_time") == end_time and vocab.is_terminal(status))

    def skip(self, source_id: str) -> None:
        self.outcome.skipped += 1
        self.outcome.run_ids[source_id] = self.known[source_id]["run_id"]

    def write(self, item: Incoming) -> str:
        """Create (or extend) the run of ``item``; returns its dii-hpc run id."""
        from dii_hpc.store.metrics import MetricWriter

        old = self.known.get(item.source_id)
        rid = old["run_id"] if old else self.store.create_run(item.experiment, status=item.status)
        rdir = self.store.run_dir(rid)
        record = records.read_record(rdir)
        writer = MetricWriter(rdir)
        if old is not None:
            writer.resume()
        added = self._metrics(writer, item.metrics)
        arts = self._artifacts(rid, item.artifacts)
        fields = ("params", "tags", "status", "start_time", "end_time")
        before = {k: record.get(k) for k in fields}
        was_terminal = old is not None and vocab.is_terminal(record.get("status"))
        record["params"] = {**record.get("params", {}), **item.params}
        record["tags"] = {**record.get("tags", {}), **item.tags,
                          ID_TAG: item.source_id, FROM_TAG: item.origin}
        record.update(status=item.status, start_time=item.start_time, end_time=item.end_time)
        self.known[item.source_id] = record
        self.outcome.run_ids[item.source_id] = rid
        if old is not None and not (added or arts) and before == {k: record.get(k) for k in fields}:
            self.outcome.skipped += 1
            return rid
        record["metrics"] = {k: dict(v) for k, v in writer.summary.items()}
        record["imported_time"] = time.time()
        records.write_record(rdir, record, was_terminal=was_terminal)
        self.outcome.created += old is None
        self.outcome.updated += old is not None
        self.outcome.points += added
        return rid

    def _metrics(self, writer: Any, metrics: dict[str, np.ndarray]) -> int:
        import numpy as np

        names = safe_keys(list(metrics))
        self.outcome.renamed.update({k: v for k, v in names.items() if k != v})
        added = 0
        for key, rows in metrics.items():
            if len(rows):
                added += writer.append(names[key], np.array(rows, dtype="float64", copy=True))
        return added

    def _artifacts(self, run_id: str, files: list[tuple[str, Path]]) -> int:
        from dii_hpc.store.atomic import read_json, write_json
        from dii_hpc.store.blobs import put_file

        if not files:
            return 0
        path = self.store.run_dir(run_id) / "artifacts.json"
        arts = read_json(path) if path.exists() else {}
        new = 0
        for name, src in files:
            sha, size = put_file(self.store.root, src)
            key = safe_keys([name])[name]
            if arts.get(key, {}).get("sha256") != sha:
                arts[key] = {"sha256": sha, "size": size}
                new += 1
        if new:
            write_json(path, arts)
        self.outcome.artifacts += new
        return new

    def link_parents(self, parents: dict[str, str]) -> None:
        """child source id -> parent source id, once both are in: set ``parent_run``."""
        for child, parent in parents.items():
            cid, pid = self.outcome.run_ids.get(child), self.outcome.run_ids.get(parent)
            if cid and pid and self.known.get(child, {}).get("parent_run") != pid:
                self.known[child] = self.store.update_run(cid, parent_run=pid)
