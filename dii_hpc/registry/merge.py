"""`dii-hpc store merge` for the registry: versions merged by content, never by number.

Two clusters' stores can each hold a `models:/clf/1` that are different models.  Copying
`versions/1.json` over the other (newer file wins, the store's rule for plain files) would
swap the model behind every alias, audit link and promotion decision of the destination.
Here a source version whose content the destination already has maps to that version; one
the destination lacks keeps its number when that number is free there and otherwise becomes
the next version, with ``merged_from`` naming where it came from.  The source's events and
links follow their versions to the new numbers; a source alias is set only where the
destination has no alias of that name (the destination's own decisions stand, and a note
says which alias was kept and which dropped).

Run records of the source keep the number they were written with (an audit run's config
says `models:/clf/1`): the notes returned say which versions were renumbered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dii_hpc.registry import aliases, layout, versions
from dii_hpc.store.atomic import read_json, write_json

CopyFile = Callable[[Path, Path], bool]
_NOT_CONTENT = ("name", "version", "merged_from")
_REGISTRY_FOLDERS = ("versions", "aliases", "events", "links")  # of a model, merged here


def merge_models(src: Path, dst: Path, dry_run: bool, copy_file: CopyFile) -> tuple[int, list[str]]:
    """Merge the ``models/`` folder ``src`` into ``dst``; returns (files written, notes).

    A model folder without `versions/` (not the registry's) and any file the registry does
    not know are merged by ``copy_file``, the store's rule for plain files."""
    src_root, dst_root = src.parent, dst.parent
    names = set(layout.model_names(src_root))
    written, notes = 0, []
    for path in sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith(".")):
        parts = path.relative_to(src).parts
        if parts[0] not in names or len(parts) < 3 or parts[1] not in _REGISTRY_FOLDERS:
            written += copy_file(path, dst / path.relative_to(src))
    for name in sorted(names):
        n, mapping = _versions(src_root, dst_root, name, dry_run)
        written += n
        notes += [f"models:/{name}/{old} of {src_root} is models:/{name}/{new} here"
                  for old, new in sorted(mapping.items()) if old != new]
        n, dropped = _follow(src_root, dst_root, name, mapping, dry_run)
        written += n
        notes += dropped
    return written, notes


def _content(record: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in record.items() if k not in _NOT_CONTENT}, sort_keys=True,
                      default=str)


def _versions(src_root: Path, dst_root: Path, name: str,
              dry_run: bool) -> tuple[int, dict[int, int]]:
    """Bring every complete source version in; returns (versions written, old -> new number)."""
    have = {_content(r): r["version"] for r in versions.complete(dst_root, name)}
    claimed = set(versions.numbers(dst_root, name))
    mapping, written = {}, 0
    for record in versions.complete(src_root, name):
        old, key = int(record["version"]), _content(record)
        if key in have:
            mapping[old] = have[key]
            continue
        body = {k: v for k, v in record.items() if k not in _NOT_CONTENT}
        origin = {"store": str(src_root), "version": old}
        new = old if old not in claimed else max(claimed | {0}) + 1
        if not dry_run:
            new = _write(dst_root, name, new, body, origin)
        claimed.add(new)
        have[key] = mapping[old] = new
        written += 1
    return written, mapping


def _write(root: Path, name: str, number: int, body: dict[str, Any],
           origin: dict[str, Any]) -> int:
    """``body`` as version ``number`` if it can still be claimed, else as the next version;
    a version that changed number records its ``merged_from``."""
    if versions.claim(root, name, number):
        extra = {} if number == origin["version"] else {"merged_from": origin}
        return int(versions.fill(root, name, number, {**body, **extra})["version"])
    return int(versions.register(root, name, {**body, "merged_from": origin})["version"])


def _follow(src_root: Path, dst_root: Path, name: str, mapping: dict[int, int],
            dry_run: bool) -> tuple[int, list[str]]:
    """Events, links and aliases of the source, moved to the versions' numbers here; returns
    (files written, a note for each source alias that lost to the destination's own)."""
    written = 0
    src_model, dst_model = layout.model_dir(src_root, name), layout.model_dir(dst_root, name)
    for path in sorted((src_model / "events").glob("*.json")):
        target = dst_model / "events" / path.name  # event files are uniquely named
        if not path.name.startswith(".") and not target.exists():
            written += _copy_mapped(path, target, mapping, dry_run)
    for path in sorted((src_model / "links").glob("*/*.json")):
        old = int(path.parent.name) if path.parent.name.isdigit() else None
        if old in mapping and not path.name.startswith("."):
            target = layout.links_dir(dst_root, name, mapping[old]) / path.name
            if not target.exists():
                written += _copy_mapped(path, target, mapping, dry_run)
    here, notes = aliases.all_of(dst_root, name), []
    for alias, old in aliases.all_of(src_root, name).items():
        if old not in mapping:
            continue
        if alias in here:
            if here[alias] != mapping[old]:
                notes.append(f"alias models:/{name}@{alias}: kept models:/{name}/{here[alias]} "
                             f"of this store, dropped {src_root}'s (its version {old}, "
                             f"models:/{name}/{mapping[old]} here)")
            continue
        written += 1
        if not dry_run:
            write_json(layout.aliases_dir(dst_root, name) / f"{alias}.json",
                       {**read_json(layout.aliases_dir(src_root, name) / f"{alias}.json"),
                        "version": mapping[old]})
    return written, notes


def _copy_mapped(path: Path, target: Path, mapping: dict[int, int], dry_run: bool) -> int:
    """Copy a JSON record whose "version"/"previous" fields name source version numbers."""
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return 0
    for field in ("version", "previous"):
        if isinstance(record.get(field), int) and record[field] in mapping:
            record[field] = mapping[record[field]]
    if not dry_run:
        write_json(target, record)
    return 1
