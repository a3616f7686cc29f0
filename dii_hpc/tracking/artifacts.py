"""Artifacts of a run: files stored content-addressed under blobs/ and named in artifacts.json.

A mixin of `tracking.run.Run` (its store, folder, record lock and whether this process
writes the run's files); kept apart so that the writer of metrics stays one readable module.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput
from dii_hpc.store.names import check_key

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


class ArtifactsMixin:
    store: Store
    dir: Path
    writes_record: bool
    _record_lock: threading.RLock
    #: artifacts.json as this writer last wrote it; None: read it from disk first.  A run
    #: this process created has none yet (`start_run`): no read, no stat of a missing file.
    _artifacts: dict[str, Any] | None = None

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> str:
        """Store a file content-addressed under blobs/ and name it in this run; returns sha256."""
        from dii_hpc.store.blobs import put_file

        if not self.writes_record:
            return ""  # artifacts are named in artifacts.json, which rank 0 alone writes
        src = Path(path)
        if not src.is_file():
            raise BadInput(f"artifact path {str(path)!r} does not exist or is not a file")
        return self._add_artifact(name or src.name, *put_file(self.store.root, src))

    def log_dict(self, name: str, obj: Any) -> str:
        """Store ``obj`` as a JSON artifact (e.g. a full audit result)."""
        from dii_hpc.store.atomic import dumps
        from dii_hpc.store.blobs import put_bytes

        if not self.writes_record:
            return ""
        return self._add_artifact(name, *put_bytes(self.store.root, dumps(obj)))

    def _add_artifact(self, name: str, sha: str, size: int) -> str:
        from dii_hpc.store.atomic import read_json, write_json

        check_key(name, "artifact name")
        with self._record_lock:
            path = self.dir / "artifacts.json"
            arts = self._artifacts
            if arts is None:
                arts = read_json(path) if path.exists() else {}
            arts = {**arts, name: {"sha256": sha, "size": size}}
            write_json(path, arts)
            self._artifacts = arts
        return sha

