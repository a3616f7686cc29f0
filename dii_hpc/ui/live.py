"""Live updates of a run: what changed since a page last looked, noticed cheaply.

A page of a running run keeps, per metric, the last step it drew (its cursor). `Watch`
polls the run's files by stat only: run.json (the writer rewrites it at every flush, with
its heartbeat), each metric array's zarr.json (rewritten with the new shape after every
append, see `series.ArrayStamps`) and the log files. Only what changed is read, and only the
points after each cursor are sent. The same `Watch.update` answers a polling client
(``/api/runs/{id}/updates?since=``) and feeds the server-sent events of
``/api/runs/{id}/events`` (one event per change, a comment every ``KEEPALIVE_S`` so that
proxies and tunnels keep the stream open); the stream says ``end`` once the run has ended
and everything it wrote was sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import BadInput
from dii_hpc.store import records
from dii_hpc.ui import api
from dii_hpc.ui.listing import Stamp, stamp
from dii_hpc.ui.series import DEFAULT_WIDTH, ArrayStamps, series

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import AsyncIterator

    from dii_hpc.store.store import Store

POLL_S = 0.5
KEEPALIVE_S = 15.0
LOG_BYTES = 16_384
RECORD_FIELDS = ("status", "start_time", "end_time", "error", "heartbeat", "metrics", "attempts")


def parse_cursors(text: str | None) -> dict[str, float]:
    """``since`` as the page sends it: a JSON object metric key -> last step it holds."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        return {str(k): float(v) for k, v in raw.items() if v is not None}
    except (ValueError, TypeError) as err:
        raise BadInput(f"since={text[:80]!r}: expected a JSON object of metric -> step") from err


class Watch:
    """What one client has seen of one run; `update` returns what is new (or None)."""

    def __init__(self, store: Store, run_id: str, cursors: dict[str, float] | None = None,
                 width: int = DEFAULT_WIDTH) -> None:
        self.store = store
        self.run_id = store.run(run_id)["run_id"]
        self.dir = Path(store.run_dir(self.run_id))
        self.cursors = dict(cursors or {})
        self.width = width
        self.arrays = ArrayStamps(store, self.run_id)
        self._record: Stamp = None
        self._logs: dict[str, Stamp] = {}
        self.status: str | None = None

    def update(self) -> dict[str, Any] | None:
        """Everything that changed since the previous call (all of it the first time)."""
        out: dict[str, Any] = {}
        now = stamp(self.dir / records.RUN_FILE)
        record_changed = now != self._record
        if record_changed:
            self._record = now
            record = self.store.run(self.run_id)
            self.status = record.get("status")
            out["run"] = {k: record.get(k) for k in RECORD_FIELDS}
        points = {}
        for key in self.arrays.changed(relist=record_changed):
            part = series(self.store, self.run_id, key, width=self.width,
                          since=self.cursors.get(key))
            if part.count:
                points[key] = part.as_json()
            if part.last_step is not None:
                self.cursors[key] = float(part.last_step)
        if points:
            out["points"] = points
        logs = self._changed_logs()
        if logs:
            out["logs"] = logs
        if not out:
            return None
        out["ended"] = vocab.is_terminal(self.status)
        return out

    def _changed_logs(self) -> dict[str, Any]:
        folder = self.dir / "logs"
        out = {}
        for path in api.log_files(self.store, self.run_id):
            name = path.relative_to(folder).as_posix()
            now = stamp(path)
            if now != self._logs.get(name):
                self._logs[name] = now
                out[name] = api.tail(path, LOG_BYTES)
        return out


async def events(watch: Watch, poll_s: float = POLL_S) -> AsyncIterator[bytes]:
    """Server-sent events: ``data: {update}`` per change, ``event: end`` once the run ended.

    Store reads run in a worker thread: a slow shared filesystem never stalls the server."""
    import anyio

    from dii_hpc.store.atomic import dumps

    quiet = 0.0
    while True:
        update = await anyio.to_thread.run_sync(watch.update)
        if update is not None:
            quiet = 0.0
            yield b"data: " + dumps(update, indent=None) + b"\n\n"
            if update["ended"]:
                yield b"event: end\ndata: {}\n\n"
                return
        elif vocab.is_terminal(watch.status):
            yield b"event: end\ndata: {}\n\n"
            return
        else:
            quiet += poll_s
            if quiet >= KEEPALIVE_S:
                quiet = 0.0
                yield b": keep-alive\n\n"
        await anyio.sleep(poll_s)
