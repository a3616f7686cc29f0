"""The output folder: zarr v3 predictions chunked by shard, a manifest, per-shard done markers.

    DIR/zarr.json, DIR/<output>/...   one array per model output; chunk i = shard i
    DIR/manifest.json                 model identity, data hashes, shard layout, output shapes
    DIR/shards/<i>.json               done marker (written atomically after the chunk): stats

A shard counts as complete only when its marker exists, so a task killed mid-write leaves a
shard that the next run recomputes; a marker never points at a half-written chunk.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.errors import BadInput

MANIFEST = "manifest.json"
FORMAT = 1


def layout(n_rows: int, shards: int, batch_size: int) -> tuple[list[list[int]], int]:
    """Row ranges of the shards and the batch size used in them.

    Shard boundaries fall on multiples of the batch size, so every row meets the same batch
    neighbours whatever the shard count: predictions are bit-identical to one process's.
    """
    if n_rows <= 0:
        raise BadInput("the inputs hold no rows")
    if shards < 1 or batch_size < 1:
        raise BadInput("--shards and --batch-size must be at least 1")
    per = math.ceil(n_rows / shards)
    batch = min(batch_size, per)
    size = math.ceil(per / batch) * batch
    return [[a, min(a + size, n_rows)] for a in range(0, n_rows, size)], batch


def manifest_path(out: Path) -> Path:
    return out / MANIFEST


def read_manifest(out: Path) -> dict[str, Any]:
    from dii_hpc.store.atomic import read_json

    path = manifest_path(out)
    if not path.is_file():
        raise BadInput(f"{out}: no predictions here (no {MANIFEST})")
    return read_json(path)


def _same_model(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("model", "model_run", "weights_sha256")
    return all(a.get(k) == b.get(k) for k in keys)


def _describe_model(m: dict[str, Any]) -> str:
    parts = [m["model"]]
    if m.get("model_run"):
        parts.append(f"run {m['model_run']}")
    if m.get("weights_sha256"):
        parts.append(f"weights {m['weights_sha256'][:12]}")
    return ", ".join(parts)


def prepare(out: Path, new: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create the folder for ``new`` or reuse a matching one: (manifest in force, created?)."""
    if out.is_file():
        raise BadInput(f"--out {out}: is a file, not a directory")
    if manifest_path(out).is_file():
        old = read_manifest(out)
        if not _same_model(old["model"], new["model"]):
            raise BadInput(f"--out {out} holds predictions of another model "
                           f"({_describe_model(old['model'])}); use another --out")
        old_data = {(d["path"], d["sha256"]) for d in old["data"]}
        changed = [d["path"] for d in new["data"] if (d["path"], d["sha256"]) not in old_data]
        if changed or len(old["data"]) != len(new["data"]):
            what = ", ".join(changed) or "the file list"
            raise BadInput(f"--out {out} holds predictions for other data ({what} changed); "
                           "use another --out")
        return old, False
    if out.is_dir() and any(out.iterdir()):
        raise BadInput(f"--out {out}: not empty and holds no {MANIFEST}; use a new folder")
    _create_arrays(out, new)
    from dii_hpc.store.atomic import write_json

    write_json(manifest_path(out), new)
    return new, True


def _create_arrays(out: Path, manifest: dict[str, Any]) -> None:
    import zarr

    group = zarr.open_group(str(out), mode="a", zarr_format=3)
    n, size = manifest["rows"], manifest["shard_rows"]
    for name, spec in manifest["outputs"].items():
        tail = tuple(spec["shape"])
        # uncompressed: model outputs (floats) barely compress, and writing them must cost
        # nothing next to the forward pass (zstd took 4x longer than the write itself)
        group.create_array(name, shape=(n, *tail), chunks=(size, *tail), dtype=spec["dtype"],
                           fill_value=0, overwrite=True, compressors=None)


def done_path(out: Path, index: int) -> Path:
    return out / "shards" / f"{index:05d}.json"


def done(out: Path, index: int) -> dict[str, Any] | None:
    """The shard's done marker (its stats), or None when the shard must be computed."""
    from dii_hpc.store.atomic import read_json

    path = done_path(out, index)
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def write_shard(out: Path, manifest: dict[str, Any], index: int,
                outputs: dict[str, np.ndarray], stats: dict[str, Any]) -> None:
    """Write the shard's chunk of every output array, then (only then) its done marker."""
    import zarr

    from dii_hpc.store.atomic import write_json

    start, stop = manifest["shards"][index]
    for name, spec in manifest["outputs"].items():
        if name not in outputs:
            raise BadInput(f"shard {index}: the model gave no output {name!r} this time")
        arr = zarr.open_array(str(out / name), mode="r+")
        values = np.asarray(outputs[name]).astype(spec["dtype"], copy=False)
        if values.shape != (stop - start, *spec["shape"]):
            raise BadInput(f"shard {index}: output {name!r} has shape {values.shape}, "
                           f"expected {(stop - start, *spec['shape'])}")
        arr[start:stop] = values
    write_json(done_path(out, index), {**stats, "index": index, "rows": stop - start,
                                       "finished": time.time()})


def read_outputs(out: Path, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Every output array in full (what a user or `predict score` reads back)."""
    import zarr

    manifest = read_manifest(out)
    return {name: np.asarray(zarr.open_array(str(out / name), mode="r")[:])
            for name in (names or list(manifest["outputs"]))}


def chunk_files(out: Path, name: str, index: int) -> list[Path]:
    """The files that hold shard ``index`` of output ``name`` (the tests delete them)."""
    folder = out / name / "c" / str(index)
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
