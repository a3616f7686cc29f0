"""Jinja2 environment (autoescape on for every template) and the page writer.

Everything a user typed (experiment, run, param, tag, metric names, log lines) reaches the HTML
through autoescaping; JSON embedded in ``<script type="application/json">`` goes through
:func:`script_json`, which escapes ``<``, ``>`` and ``&`` so that ``</script>`` inside a value
cannot close the element.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

from markupsafe import Markup

from dii_hpc.report import display
from dii_hpc.report.resources import templates_dir


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def script_json(obj: Any) -> Markup:
    """JSON safe to place between ``<script type="application/json">`` tags."""
    try:  # NaN/inf are rare: only walk the value when plain encoding refuses it
        text = json.dumps(obj, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:
        text = json.dumps(_clean(obj), separators=(",", ":"), default=str, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def pretty_json(obj: Any) -> str:
    """Indented JSON for <pre> blocks; the template escapes it."""
    return json.dumps(obj, indent=2, sort_keys=True, default=str)


def drifted_first(features: Any) -> list[tuple[str, Any]]:
    """Per-feature drift results, drifted ones first (stable: saved order within each group)."""
    if not isinstance(features, dict):
        return []
    return sorted(features.items(),
                  key=lambda kv: not (isinstance(kv[1], dict) and kv[1].get("drift") is True))


def is_mapping(obj: Any) -> bool:
    return isinstance(obj, dict)


def is_sequence(obj: Any) -> bool:
    return isinstance(obj, (list, tuple))


def make_env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=True,  # every template, whatever its extension
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,  # partial audit/drift sections render as blanks
    )
    env.filters.update(
        num=display.fmt_num, when=display.fmt_time, duration=display.fmt_duration,
        size=display.fmt_size, script_json=script_json, pretty=pretty_json,
        drifted_first=drifted_first, pnum=display.fmt_param, sv=display.sort_value,
    )
    env.tests.update(mapping_=is_mapping, sequence_=is_sequence)
    env.globals.update(safe_name=display.safe_name)
    return env


def write_text(path: Path, text: str) -> None:
    """Publish a page whole (temp + rename), without fsync.

    A reader never sees a torn page; durability is not needed because every page can be
    rebuilt from the store, and 1,000 fsyncs would cost seconds on a shared filesystem.
    The old page is unlinked before the rename: on ext4, rename *over* an existing file
    forces a data flush (auto_da_alloc), which made a 1,000-page rebuild 3-5 s slower; the
    price is a moment in which the page is absent, never one in which it is partial.
    """
    data = text.encode("utf-8")
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return  # same bytes: leave the file (and the filesystem journal) alone
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(data)
    try:
        path.unlink(missing_ok=True)
        os.rename(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
