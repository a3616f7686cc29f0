"""run.json's fields a user sets (params, tags, sections, the manifest, inputs), each change
written at once unless the run is `deferring`: a section set by one package is visible to the
next as soon as the call returns, and a caller about to end the run batches its changes into
that one write (each write a round trip on a shared filesystem).  A mixin of `tracking.run.Run`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput
from dii_hpc.store.names import check_key


class FieldsMixin:
    record: dict[str, Any]
    _record_lock: threading.RLock
    _deferred: bool

    if TYPE_CHECKING:  # pragma: no cover - Run's own
        def _save(self, sets_status: bool = False) -> bool: ...

    # ------------------------------------------------------------- params, tags
    def log_params(self, params: dict[str, Any]) -> None:
        with self._record_lock:
            self.record["params"].update(params)
            self._save()

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        with self._record_lock:
            self.record["tags"].update({k: str(v) for k, v in tags.items()})
            self._save()

    def set_section(self, name: str, value: Any, *, save: bool = True) -> None:
        """Store a kind-specific result (``audit``, ``drift``, ``inference``) in run.json."""
        self.set_sections({name: value}, save=save)

    def set_sections(self, sections: dict[str, Any], manifest: dict[str, Any] | None = None,
                     *, save: bool = True) -> None:
        """Several sections (and ``manifest`` entries, merged as `set_manifest` does) in one
        run.json write: a result of many parts is published whole, and written once.
        ``save=False``: kept for the run's next record write, which the caller makes next
        (`finish`: a trial's end and the run's in one write)."""
        reserved = {"run_id", "experiment", "status", "metrics", "params", "tags", "manifest"}
        if bad := sorted(reserved & set(sections)):
            raise BadInput(f"section name {bad[0]!r} is reserved")
        with self._record_lock:
            self.record.update(sections)
            if manifest:
                self.record["manifest"] = {**self.record.get("manifest", {}), **manifest}
            if save:
                self._save()

    def set_manifest(self, manifest: dict[str, Any]) -> None:
        self.set_sections({}, manifest)

    def log_input(self, name: str, data: Any, source: str | None = None) -> dict[str, Any]:
        """Record a dataset the run read (a path, array, table or a mapping of them) under
        run.json ``inputs``: content hash, shape/rows and source, which model lineage shows."""
        from dii_hpc.tracking.inputs import describe

        check_key(name, "input name")
        entry = describe(data)
        if source is not None:
            entry["source"] = str(source)
        with self._record_lock:
            self.record.setdefault("inputs", {})[name] = entry
            self._save()
        return entry

    @contextlib.contextmanager
    def deferring(self) -> Iterator[None]:
        """Record changes made inside (results, params, sections) are written by the run's
        next record write, not each by its own: for a caller whose next step writes the
        record anyway (a task's end, right after its train_function's results), each write
        being a round trip on a shared filesystem.  A flush after the block writes them too."""
        with self._record_lock:
            self._deferred = True
        try:
            yield
        finally:
            with self._record_lock:
                self._deferred = False
