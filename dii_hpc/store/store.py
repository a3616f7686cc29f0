"""The store: a directory tree on a shared filesystem that every node can read and write.

One writer per run and no shared locks: each run owns ``experiments/<exp>/runs/<id>/``.
This module knows nothing of Slurm, audits or HTML; those write through ``create_run`` /
``update_run`` and the tracking API like any training run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import DamagedRun, NotFound, StoreError
from dii_hpc.store import records
from dii_hpc.store.atomic import read_json
from dii_hpc.store.ids import is_run_id, new_run_id
from dii_hpc.store.names import check_experiment

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

DEFAULT_STORE = "./dii-store"


def resolve_store_path(path: str | os.PathLike[str] | None = None) -> Path:
    """arg > $DII_HPC_STORE > ./dii-store, made absolute so child processes agree."""
    chosen = path if path is not None else os.environ.get("DII_HPC_STORE") or DEFAULT_STORE
    return Path(chosen).expanduser().absolute()


class Store:
    """Read and write runs of a dii-hpc store (see the design brief for the layout)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.root = resolve_store_path(path)
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"store path {self.root} is a file, not a directory")
        self.damaged: list[tuple[str, str]] = []
        self._where: dict[str, Path] = {}
        self._umask_applied = False
        self._writable = False  # checked once per instance: each check is a server round trip

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ---------------------------------------------------------------- layout
    @property
    def jobs_dir(self) -> Path:
        return self.root / "jobs"

    def experiment_dir(self, experiment: str) -> Path:
        return self.root / "experiments" / check_experiment(experiment)

    def runs_dir(self, experiment: str) -> Path:
        """The folder of an experiment's runs (one sub-folder each)."""
        return records.runs_path(self.root, experiment)

    def run_path(self, experiment: str, run_id: str) -> Path:
        """Where a run of ``experiment`` lives, whether or not it exists yet."""
        return records.run_path(self.root, experiment, run_id)

    def require(self) -> Store:
        """This store, which must exist: read commands given a mistyped --store path say so
        instead of listing an empty store (and a write never creates one there)."""
        if not self.root.is_dir():
            raise StoreError(f"no store at {self.root} (give --store or set DII_HPC_STORE)")
        return self

    def ensure_writable(self) -> None:
        """Create the store if needed; refuse (exit 2) a path we cannot write (checked
        once per instance: a store made unwritable later fails at its next write)."""
        if self._writable:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create store at {self.root}: {err.strerror}") from err
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreError(f"store path {self.root} is not writable")
        if not self._umask_applied:
            from dii_hpc.store.settings import apply_umask

            apply_umask(self.root)
            self._umask_applied = True
        self._writable = True

    # ----------------------------------------------------------------- names
    def experiments(self) -> list[str]:
        base = self.root / "experiments"
        if not base.is_dir():
            return []
        return sorted(e.name for e in os.scandir(base) if e.is_dir() and not e.name.startswith("."))

    def run_ids(self, experiment: str) -> list[str]:
        runs = self.runs_dir(experiment)
        if not runs.is_dir():
            return []
        return sorted(e.name for e in os.scandir(runs) if is_run_id(e.name))

    def check_experiment_exists(self, experiment: str) -> None:
        if experiment not in self.experiments():
            raise NotFound("experiment", experiment, self.experiments())

    def run_dir(self, run_id: str) -> Path:
        """Directory of a run given its id (or a unique prefix of at least 6 characters)."""
        hit = self._where.get(run_id)
        if hit is not None:
            return hit
        for exp in self.experiments():
            candidate = self.run_path(exp, run_id)
            if (candidate / records.RUN_FILE).exists():
                self._where[run_id] = candidate
                return candidate
        every = [(exp, rid) for exp in self.experiments() for rid in self.run_ids(exp)]
        if len(run_id) >= 6:
            matches = [(e, r) for e, r in every if r.startswith(run_id.upper())]
            if len(matches) == 1:
                exp, rid = matches[0]
                return self.run_path(exp, rid)
            if len(matches) > 1:
                raise StoreError(
                    f"run id prefix {run_id!r} matches {len(matches)} runs; give more characters"
                )
        raise NotFound("run", run_id, [r for _, r in every])

    # --------------------------------------------------------------- records
    def run(self, run_id: str) -> dict[str, Any]:
        rdir = self.run_dir(run_id)
        try:
            return records.read_record(rdir)
        except (OSError, ValueError) as err:
            raise DamagedRun(f"run {rdir.name}: unreadable run.json ({err})") from err

    def create_run(
        self,
        experiment: str,
        kind: str = "train",
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        status: str = "PENDING",
        run_id: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> str:
        """Write a new run record (e.g. PENDING before a job is submitted) and return its id;
        ``fields``: more top-level entries of the record, in the same one write."""
        return str(self.create_record(experiment, kind, params, tags, status, run_id,
                                      fields)["run_id"])

    def create_record(
        self,
        experiment: str,
        kind: str = "train",
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        status: str = "PENDING",
        run_id: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`create_run`, returning the record as a reader gets it back (standard JSON
        values): its writer need not read the file it just wrote (a round trip on a shared
        filesystem)."""
        import json

        from dii_hpc.store.atomic import dumps

        self.ensure_writable()
        if kind not in vocab.KINDS:
            raise StoreError(f"unknown run kind {kind!r}: expected one of {', '.join(vocab.KINDS)}")
        rid = run_id or new_run_id()
        rdir = self.run_path(experiment, rid)
        rdir.mkdir(parents=True, exist_ok=True)
        record = {**records.new_record(rid, experiment, kind, params, tags, status),
                  **(fields or {})}
        records.write_record(rdir, record)
        self._where[rid] = rdir
        out: dict[str, Any] = json.loads(dumps(record))
        return out

    def create_runs(
        self,
        experiment: str,
        params: list[dict[str, Any]],
        kind: str = "train",
        tags: dict[str, Any] | None = None,
        status: str = "PENDING",
    ) -> list[str]:
        """Many records at once (a sweep): one filesystem sync instead of one per file."""
        from dii_hpc.store.bulk import create_runs

        check_experiment(experiment)
        ids = create_runs(self, experiment, kind, params, tags or {}, status)
        base = self.runs_dir(experiment)
        self._where.update({rid: base / rid for rid in ids})
        return ids

    def update_run(self, run_id: str, **fields: Any) -> dict[str, Any]:
        """Merge fields into run.json atomically (dict fields are merged one level deep)."""
        rdir = self.run_dir(run_id)
        record = records.read_record(rdir)
        was_terminal = record.get("status") in vocab.TERMINAL
        for key, value in fields.items():
            if isinstance(value, dict) and isinstance(record.get(key), dict):
                record[key] = {**record[key], **value}
            else:
                record[key] = value
        records.write_record(rdir, record, was_terminal=was_terminal)
        return record

    def delete_run(self, run_id: str) -> None:
        """Remove a run that never started (e.g. its submission failed)."""
        import shutil

        rdir = self.run_dir(run_id)
        self._where.pop(run_id, None)
        shutil.rmtree(rdir, ignore_errors=True)

    # ---------------------------------------------------------------- metrics
    def metric_keys(self, run_id: str) -> list[str]:
        from dii_hpc.store.metrics import metric_keys

        return metric_keys(self.run_dir(run_id))

    def metric_history(self, run_id: str, key: str) -> pd.DataFrame:
        return history_frame(self.metric_array(run_id, key))

    def metric_array(self, run_id: str, key: str) -> Any:
        """History as a (n, 3) float64 array: step, value, time."""
        from dii_hpc.store.metrics import METRICS_DIR
        from dii_hpc.store.names import check_key
        from dii_hpc.store.zstore import committed_rows, read_array

        rdir = self.run_dir(run_id)
        check_key(key)
        try:
            return committed_rows(read_array(os.path.join(rdir, METRICS_DIR, key)))
        except FileNotFoundError as err:
            raise NotFound(f"metric of run {rdir.name}:", key, self.metric_keys(run_id)) from err
        except (OSError, ValueError) as err:
            raise DamagedRun(f"run {rdir.name}: metric {key!r} unreadable ({err})") from err

    # -------------------------------------------------------------- artifacts
    def artifacts(self, run_id: str) -> dict[str, dict[str, Any]]:
        from dii_hpc.store.blobs import blob_path

        path = self.run_dir(run_id) / "artifacts.json"
        if not path.exists():
            return {}
        out: dict[str, dict[str, Any]] = read_json(path)
        for meta in out.values():
            meta["path"] = str(blob_path(self.root, meta["sha256"]))
        return out

    def artifact_path(self, run_id: str, name: str) -> Path:
        arts = self.artifacts(run_id)
        if name not in arts:
            raise NotFound(f"artifact of run {run_id}:", name, list(arts))
        return Path(arts[name]["path"])

    # ---------------------------------------------------------------- listing
    def records(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """Every readable run record; damaged ones are skipped and listed in ``self.damaged``."""
        from dii_hpc.store.listing import read_records

        exps = [experiment] if experiment else self.experiments()
        if experiment:
            self.check_experiment_exists(experiment)
        out: list[dict[str, Any]] = []
        for exp in exps:
            out.extend(read_records(self, exp))
        return out

    def runs(self, experiment: str | None = None, kind: str | None = None) -> pd.DataFrame:
        """One row per run: run_id, experiment, kind, status, times, params.*, metrics.*, tags.*."""
        from dii_hpc.store.listing import runs_frame

        self.damaged = []
        exps = [experiment] if experiment else self.experiments()
        if experiment:
            self.check_experiment_exists(experiment)
        return runs_frame(self, exps, kind)


# What entry points accept for "which store": a Store, a path, or None ($DII_HPC_STORE).
StoreLike = Store | str | os.PathLike[str] | None

_HISTORY_COLUMNS: list[Any] = []


def history_frame(data: Any) -> pd.DataFrame:
    """(n, 3) rows as a DataFrame: step (int64), value, time.

    pandas' public constructor costs ~140 us here (it infers, validates and builds the
    column index each time): half of reading a short history. ``_from_arrays`` with a
    cached column index takes ~25 us; it is private, so any failure falls back (and a test in
    tests/store/test_store.py fails loudly when a pandas release changes it).
    """
    import pandas as pd

    arrays = [data[:, 0].astype("int64"), data[:, 1], data[:, 2]]
    if not _HISTORY_COLUMNS:
        _HISTORY_COLUMNS.append(pd.Index(["step", "value", "time"]))
    try:
        return pd.DataFrame._from_arrays(arrays, columns=_HISTORY_COLUMNS[0],
                                         index=pd.RangeIndex(len(data)), verify_integrity=False)
    except (AttributeError, TypeError):  # pragma: no cover - a pandas without it
        return pd.DataFrame(dict(zip(("step", "value", "time"), arrays, strict=True)))
