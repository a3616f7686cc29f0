"""Validation of the names that become paths: experiments, metric keys, artifact names.

A metric key like ``train/loss`` is a nested path inside the run's metrics group; anything
that could climb out of the run directory (``..``, absolute paths, backslashes, NUL) is
refused before it reaches the filesystem.
"""

from __future__ import annotations

import re
import unicodedata

from dii_hpc.errors import BadInput

_SEGMENT = re.compile(r"^[A-Za-z0-9_.\-+=@:,% ]+$")
_EXPERIMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-+=@,]*$")


def check_experiment(name: str) -> str:
    if not isinstance(name, str) or not _EXPERIMENT.match(name) or len(name) > 200:
        raise BadInput(
            f"invalid experiment name {name!r}: use letters, digits and _ . - + = @ , "
            "(no slashes, not starting with a dot)"
        )
    return name


def check_key(key: str, what: str = "metric key") -> str:
    """Accept ``a/b/c`` keys whose segments are plain names; refuse escapes."""
    if not isinstance(key, str) or not key:
        raise BadInput(f"invalid {what} {key!r}: must be a non-empty string")
    if len(key) > MAX_KEY:
        raise BadInput(f"invalid {what} {shown(key)}: is {len(key)} characters long; at most {MAX_KEY}")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise BadInput(f"invalid {what} {shown(key)}: would escape the run directory")
    for seg in key.split("/"):
        if seg == "..":
            raise BadInput(f"invalid {what} {shown(key)}: '..' would escape the run directory")
        if seg in ("", ".") or seg.startswith(".") or not _plain(seg):
            raise BadInput(
                f"invalid {what} {shown(key)}: segment {shown(seg)} is empty, hidden, '..' or has "
                "characters outside letters, digits and _ . - + = @ : , % space"
            )
        if seg.lower() in STORE_FILES:
            raise BadInput(f"invalid {what} {shown(key)}: segment {shown(seg)} is the name of one "
                           "of the store's own files (zarr.json)")
        if len(seg.encode()) > MAX_SEGMENT_BYTES:
            raise BadInput(f"invalid {what} {shown(key)}: segment {shown(seg)} is "
                           f"{len(seg.encode())} bytes in UTF-8; at most {MAX_SEGMENT_BYTES} "
                           "(a file name)")
    return key


MAX_KEY = 250
#: File names zarr keeps beside the arrays (compared lower-case: a case-insensitive filesystem
#: would take ``ZARR.JSON`` for the group's own metadata and the run's end would crash).
STORE_FILES = frozenset({"zarr.json"})
MAX_SEGMENT_BYTES = 255  # NAME_MAX: each segment is a folder name


def _plain(segment: str) -> bool:
    """Letters and digits of any script (épsilon, 损失), with combining marks, and the ASCII
    punctuation of `_SEGMENT`; never control, format (zero-width, bidi override) or space
    characters other than the plain space."""
    if _SEGMENT.match(segment):
        return True
    return all(ch.isalnum() or _SEGMENT.match(ch) or unicodedata.category(ch).startswith("M")
               for ch in segment)


def shown(text: str, limit: int = 48) -> str:
    """A name as error messages echo it: whole when short, else its start and its length."""
    return repr(text) if len(text) <= limit else f"{text[:limit - 8]!r}... ({len(text)} characters)"
