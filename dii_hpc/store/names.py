"""Validation of the names that become paths: experiments, metric keys, artifact names.

A metric key like ``train/loss`` is a nested path inside the run's metrics group; anything
that could climb out of the run directory (``..``, absolute paths, backslashes, NUL) is
refused before it reaches the filesystem.
"""

from __future__ import annotations

import re

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
    if not isinstance(key, str) or not key or len(key) > 250:
        raise BadInput(f"invalid {what} {key!r}: must be a non-empty string")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise BadInput(f"invalid {what} {key!r}: would escape the run directory")
    for seg in key.split("/"):
        if seg == "..":
            raise BadInput(f"invalid {what} {key!r}: '..' would escape the run directory")
        if seg in ("", ".", "..") or seg.startswith(".") or not _SEGMENT.match(seg):
            raise BadInput(
                f"invalid {what} {key!r}: segment {seg!r} is empty, hidden, '..' or has "
                "characters outside letters, digits and _ . - + = @ : , % space"
            )
    return key
