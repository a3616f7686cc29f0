"""run.json's metric summary: what the arrays hold, what other processes wrote, and the
values a train_function returned.

The summary (``metrics[key]``: last, min, max, step, count) is each key's history in short.
A number the train_function returned for a key is that key's value for the run: it becomes
``last`` (marked ``"returned": true``) without a history point, so a per-epoch history keeps
one point per epoch (40 epochs, 40 points); only a key the run never logged gets the value as
its one point.  A mixin of `tracking.run.Run`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.tracking.values import to_float


class SummaryMixin:
    dir: Path
    record: dict[str, Any]
    key_prefix: str
    _writer: Any
    _keys: list[str]
    _key_ids: dict[str, int]
    _record_lock: threading.RLock

    if TYPE_CHECKING:  # pragma: no cover - Run's own
        def flush(self, heartbeat: bool = False, *, save: bool = True) -> None: ...
        def _save(self, sets_status: bool = False) -> bool: ...
        def log_metric(self, key: str, value: float, step: int | None = None) -> None: ...

    def _merge_summary(self) -> None:
        """run.json's metric summary from the arrays written; a value a train_function
        returned for a key (`log_result`) stays that key's ``last``."""
        old = self.record.get("metrics", {})
        merged = dict(old)
        for key, summary in self._writer.summary.items():
            merged[key] = dict(summary)
            if (old.get(key) or {}).get("returned"):
                merged[key].update(last=old[key]["last"], returned=True)
        self.record["metrics"] = merged

    def log_result(self, values: dict[str, Any]) -> None:
        """The numbers a train_function returned: each is its key's value in the run's
        summary (run.json ``metrics[key]["last"]``, marked ``"returned": true``).  Only a key
        the run never logged also gets a history point: a per-epoch history keeps one point
        per epoch, not one more at a new step."""
        numbers = {key: to_float(key, value) for key, value in values.items()}
        for key, value in numbers.items():
            if key not in self._key_ids and self.key_prefix + key not in self._writer.stored_keys():
                self.log_metric(key, value)
        with self._record_lock:
            metrics = self.record.setdefault("metrics", {})
            for key, value in numbers.items():
                stored = self.key_prefix + key
                metrics[stored] = {**(metrics.get(stored) or {}), "last": value, "returned": True}
            self._save()

    def refresh_summary(self) -> None:
        """Fold the arrays other processes of the task wrote (ranks, node samplers) into
        run.json's metric summary; rank 0 calls it once they have all flushed."""
        from dii_hpc.store.metrics import metric_keys, read_history, summarize

        self.flush()
        own = set(self._keys)  # what this process logged; everything else is re-read
        with self._record_lock:
            for key in metric_keys(self.dir):
                data = read_history(self.dir, key) if key not in own else None
                if data is not None and data.shape[0]:
                    self.record.setdefault("metrics", {})[key] = summarize(data)
            self._save()
