"""The per-user cache folder: the demo models' trained weights.

Not the store: nothing here is a result anyone compares; deleting it only costs recomputation.
$DII_HPC_CACHE (default ~/.cache/dii-hpc), falling back to the temp dir when $HOME is read-only
(compute nodes sometimes mount it so). That fallback is node-local, so nothing that several
processes share goes here: audit shards, reference models and job folders live in the store
(`<store>/cache/`, `<store>/jobs/`), which every node mounts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_dir(name: str) -> Path:
    """``<cache>/<name>``, created; under the temp dir when the cache root is not writable."""
    root = Path(os.environ.get("DII_HPC_CACHE") or Path.home() / ".cache" / "dii-hpc")
    try:
        (root / name).mkdir(parents=True, exist_ok=True)
        return root / name
    except OSError:
        fallback = Path(tempfile.gettempdir()) / "dii-hpc-cache" / name
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback
