"""Stage keys: a stage whose inputs did not change is reused, not run again (as DVC does).

A key is the sha256 of: the stage's kind and config with its placeholders filled (``{work}``
is a folder per pipeline name: a stage writing there for another pipeline is another stage),
the content hash of every file it reads (`StageKind.reads`), resolved the way the stage
resolves it (config files, policies, data: the absolute paths `spec` resolved, which the job
reads; a command's scripts and arguments: relative to the folder it runs in, `spec.Places`),
that folder for a kind that runs there (`StageKind.in_cwd`), the keys of the stages it needs, and the code version (dii-hpc's version, the Python
sources of the pipeline file's git repository: committed blobs and the uncommitted diff).
Files under ``{work}`` and ``{store}`` are made by stages: their makers' keys stand for them.

The outcome of a stage that FINISHED is kept under its key (`save`); at the next submit a
stage is reused when its key has an outcome and every stage it needs is reused too (a stage
run again may have made different outputs, so what needs it runs again as well).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from dii_hpc.pipeline.kind import STAGE_KINDS
from dii_hpc.pipeline.spec import Pipeline, Places, Stage
from dii_hpc.records import pipeline as records
from dii_hpc.records.pipeline import CachedOutcome


def code_version(cwd: str | Path) -> dict[str, Any]:
    """What the stages' code is: dii-hpc's version, and the Python sources of the git
    repository holding the pipeline file (committed blobs + uncommitted diff), so that a
    commit touching only docs or configs (configs count by content anyway) reruns nothing."""
    from dii_hpc._version import __version__
    from dii_hpc.launch.manifest import git_output

    def git(*args: str) -> str | None:
        return git_output(list(args), cwd)

    tree = git("ls-tree", "-r", "HEAD", "--", "*.py")
    if tree is None:
        return {"dii_hpc": __version__, "sources": None, "diff_sha256": None}
    diff = git("diff", "HEAD", "--", "*.py") or ""
    return {"dii_hpc": __version__, "sources": hashlib.sha256(tree.encode()).hexdigest(),
            "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None}


def _digest_path(path: Path, skip: Path) -> str:
    """A file's content hash; a folder's listing (names, sizes, mtimes) without ``skip``
    (the store: the stages themselves write there)."""
    from dii_hpc.store.blobs import file_sha256

    if path.is_file():
        return file_sha256(path)[0]
    listing = sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
                     for p in path.rglob("*") if p.is_file() and not p.is_relative_to(skip))
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def file_hashes(stage: Stage, places: Places) -> dict[str, str]:
    """Content hash of every existing file or folder the stage reads (`StageKind.reads`:
    what its config names, absolute since `spec`; a command's arguments in its folder)."""
    out = {}
    for path in STAGE_KINDS.get(stage.kind).reads(stage, places):
        try:
            if path.is_absolute() and path.exists() and path != Path(os.sep):
                out[str(path)] = _digest_path(path, places.store)
        except OSError:  # a name too long for a path, a folder we may not read
            continue
    return out


def stage_key(stage: Stage, need_keys: dict[str, str], code: dict[str, Any],
              places: Places) -> str:
    body = {"kind": stage.kind, "value": places.fill(stage.value),
            "options": places.fill(stage.options), "files": file_hashes(stage, places),
            "needs": {n: need_keys[n] for n in stage.needs}, "code": code,
            "cwd": str(places.cwd) if STAGE_KINDS.get(stage.kind).in_cwd else None}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def keys(pipeline: Pipeline, order: list[str], code: dict[str, Any],
         store_root: str | Path) -> dict[str, str]:
    places = pipeline.places(store_root)
    out: dict[str, str] = {}
    for name in order:
        out[name] = stage_key(pipeline.stages[name], out, code, places)
    return out


def lookup(store_root: str | Path, key: str) -> CachedOutcome | None:
    """The outcome saved under ``key`` (None when the stage never finished)."""
    return records.read_cached(store_root, key)


def save(store_root: str | Path, key: str, outcome: CachedOutcome) -> None:
    records.write_cached(store_root, key, outcome)
