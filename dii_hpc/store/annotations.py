"""What people say about a run after the fact: tags, a note, archived (``dii-hpc runs
tag|note|archive``); the site shows them and hides archived runs unless asked.

They live in run.json like the rest of the run (``tags``, ``note``, ``archived``), written
atomically and marked changed for compaction, so listings and the report see them with no
second file to read per run. A run whose writer is still alive rewrites run.json from its
memory at every flush; changing it underneath would be lost, so that is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import BadInput
from dii_hpc.store import records
from dii_hpc.store.names import check_key

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


def parse_tags(pairs: list[str]) -> dict[str, str]:
    """``["team=vision", "stage=prod"]`` -> a dict; a pair without ``=`` is refused."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"tag {pair!r}: expected KEY=VALUE")
        out[check_key(key.strip(), "tag name")] = value
    return out


def annotate(store: Store, run_id: str, *, tags: dict[str, str] | None = None,
             remove: list[str] | None = None, note: str | None = None,
             archived: bool | None = None) -> dict[str, Any]:
    """Change a run's tags / note / archived flag; returns the new record."""
    rdir = store.run_dir(run_id)  # NotFound (exit 2) with close ids for an unknown run
    record = records.read_record(rdir)
    _check_not_live(record)
    new_tags = {**(record.get("tags") or {}), **{k: str(v) for k, v in (tags or {}).items()}}
    for key in remove or []:
        if key not in new_tags:
            raise BadInput(f"run {record['run_id']} has no tag {key!r}")
        del new_tags[key]
    record["tags"] = new_tags
    if note is not None:
        record["note"] = note.strip() or None
    if archived is not None:
        record["archived"] = bool(archived)
    records.write_record(rdir, record, was_terminal=vocab.is_terminal(record.get("status")))
    return record


def _check_not_live(record: dict[str, Any]) -> None:
    if record.get("status") != vocab.RUNNING or not record.get("heartbeat"):
        return
    if records.writer_gone(record) is None:
        raise BadInput(f"run {record['run_id']} is still being written (pid {record.get('pid')} "
                       f"on {record.get('host')}); annotate it once it has ended")
