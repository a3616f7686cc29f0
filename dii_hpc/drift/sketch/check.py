"""`drift check --sketch` and `drift profile --sketch`: the files, the profiles, the section.

With sketches a glob names every shard of one batch (not the newest file, as an exact check
reads it): each file is profiled in bounded memory, here one after the other
(``--executor local``) or as one Slurm array task each with a dependent merge job
(``--executor slurm``, `dii_hpc.drift.sketch.slurm`). A monitor made with ``--sketch`` keeps
its reference as a merged profile (``<store>/monitors/<name>/reference.sketch``) and every
check of it uses sketches; a monitor of a table checked with ``--sketch`` has its reference
table sketched in memory (it fits: it was read to make the monitor).
"""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.drift.options import DriftOptions
from dii_hpc.drift.sketch import codec
from dii_hpc.drift.sketch.compare import section_of
from dii_hpc.drift.sketch.profile import TableSketch, profile_file, profile_frame
from dii_hpc.errors import BadInput
from dii_hpc.records import monitor as monitors
from dii_hpc.records.drift import DriftSection

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.records.monitor import MonitorProfile
    from dii_hpc.store.store import Store

EXECUTORS = ("local", "slurm")


def files_of(pattern: str) -> list[Path]:
    """Every file a glob matches (sorted), or the one file named."""
    from dii_hpc.drift.io import resolve_path

    if not any(ch in pattern for ch in "*?["):
        return [resolve_path(pattern)]
    found = sorted(Path(p) for p in glob.glob(os.path.expanduser(pattern)) if os.path.isfile(p))
    if not found:
        raise BadInput(f"no file matches {pattern!r}")
    return found


def profile_files(paths: list[Path], opt: DriftOptions) -> TableSketch:
    """The merged profile of ``paths``, one file at a time in this process."""
    merged: TableSketch | None = None
    for path in paths:
        part = profile_file(path, opt.categorical, opt.ignore, opt.sketch_k)
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    assert merged is not None  # files_of never gives an empty list
    return merged


def _executor(executor: str) -> str:
    if executor not in EXECUTORS:
        raise BadInput(f"--executor {executor}: expected one of {', '.join(EXECUTORS)}")
    return executor


def _compare(ref: TableSketch | list[Path], cur: list[Path], opt: DriftOptions, ref_name: str,
             cur_name: str, executor: str, store: Store | None) -> DriftSection:
    """Profile (here or on Slurm) and compare."""
    if _executor(executor) == "slurm":
        from dii_hpc.drift.sketch import slurm

        return slurm.check(ref, cur, opt, ref_name, cur_name, store)
    reference = ref if isinstance(ref, TableSketch) else profile_files(ref, opt)
    return section_of(reference, profile_files(cur, opt), opt, ref_name, cur_name)


def check_files(reference: str, current: str, opt: DriftOptions, executor: str = "local",
                store: Store | None = None) -> DriftSection:
    """A one-off check of two batches (each a file or a glob of shards) from sketches."""
    section = _compare(files_of(reference), files_of(current), opt, reference, current,
                       executor, store)
    section.reference, section.current = reference, current
    return section


def reference_of(store: Store, prof: MonitorProfile, opt: DriftOptions) -> TableSketch:
    """The monitor's reference profile: its sketch, else its table sketched now."""
    path = monitors.folder(store, prof.name) / monitors.SKETCH
    if path.is_file():
        return codec.read(path)
    if prof.kind != "table":
        raise BadInput(f"monitor {prof.name}: a monitor of model inputs has no table to sketch; "
                       "drop --sketch")
    ref = monitors.read_reference(store, prof.name)
    return profile_frame(ref, opt.categorical, opt.sketch_k, f"monitor:{prof.name}")


def check_monitor(store: Store, prof: MonitorProfile, opt: DriftOptions, data: str,
                  labels: str | None, executor: str = "local") -> DriftSection:
    """A monitor's check from sketches (its batch: every file ``data`` matches)."""
    if labels:
        raise BadInput("--labels needs rows (labels are paired with predictions): drop --sketch")
    if prof.model:
        raise BadInput(f"monitor {prof.name} has a model: its checks embed rows; drop --sketch")
    section = _compare(reference_of(store, prof, opt), files_of(data), opt,
                       f"monitor {prof.name}", data, executor, store)
    section.monitor, section.reference, section.current = prof.name, f"monitor:{prof.name}", data
    return section


def profile_monitor(store: Store, name: str, data: str, opt: DriftOptions,
                    model_spec: str | None = None, labels: str | None = None) -> MonitorProfile:
    """`drift profile --sketch`: the reference's merged profile (every file ``data`` matches)
    saved as monitor ``name``; its checks then use sketches."""
    from dii_hpc.records.monitor import MonitorProfile

    if model_spec or labels or opt.target_column:
        raise BadInput("--model, --labels and --target need rows of the reference: drop --sketch")
    monitors.folder(store, name)  # a bad name is refused before any work
    prof = profile_files(files_of(data), opt)
    if opt.prediction_column and opt.prediction_column not in prof.columns:
        raise BadInput(f"{data}: no prediction column {opt.prediction_column!r}")
    record = MonitorProfile(name=name, created=time.time(), kind="table", source=data,
                            n_rows=prof.rows, options={**opt.to_dict(), "sketch": True},
                            columns=list(prof.columns))
    monitors.write(store, record, None, {}, codec.dumps(prof))
    return record


def sketch_rows(section: DriftSection) -> dict[str, Any]:
    """The sketch part of a section for a one-line summary (k and the stated rank errors)."""
    s = section.sketch
    return {} if s is None else {"k": s.k, "rank_error": max(s.rank_error_reference,
                                                             s.rank_error_current)}
