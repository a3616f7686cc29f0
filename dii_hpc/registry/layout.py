"""Where a model lives in the store, and the names users type for models and aliases.

    <store>/models/<name>/versions/<N>.json     one file per version (placeholder, then content)
    <store>/models/<name>/aliases/<alias>.json  {"alias", "version", ...}: replaced atomically
    <store>/models/<name>/events/<t>-<r>.json   append-only history: alias moves, archives, decisions
    <store>/models/<name>/links/<N>/<kind>-<run>.json   runs that used version N (audits, deployments)
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from pathlib import Path

from dii_hpc.errors import BadInput
from dii_hpc.store import atomic

MODELS_DIR = "models"
# No '/' or '@': both are separators of models:/NAME/VERSION and models:/NAME@ALIAS.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
# A plain name that can never be read as a version number.
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
# Names a URI already gives a meaning (models:/NAME/latest; v3 reads as version 3), as in MLflow.
_RESERVED_ALIAS = re.compile(r"^(?:latest|v\d+)$", re.IGNORECASE)


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadInput(f"invalid model name {name!r}: use letters, digits and _ . - "
                       "(starting with a letter or digit, at most 128 characters)")
    return name


def check_alias(alias: object) -> str:
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise BadInput(f"invalid alias {alias!r}: an alias is a plain name (a letter, then "
                       "letters, digits, _ or -), e.g. champion")
    if _RESERVED_ALIAS.match(alias):
        raise BadInput(f"alias {alias!r} is reserved (models:/NAME/latest is the latest "
                       "version, v<N> reads as version N); choose another name, e.g. champion")
    return alias


def models_root(root: str | os.PathLike[str]) -> Path:
    return Path(root) / MODELS_DIR


def model_dir(root: str | os.PathLike[str], name: str) -> Path:
    return models_root(root) / check_name(name)


def versions_dir(root: str | os.PathLike[str], name: str) -> Path:
    return model_dir(root, name) / "versions"


def version_file(root: str | os.PathLike[str], name: str, version: int) -> Path:
    return versions_dir(root, name) / f"{int(version)}.json"


def aliases_dir(root: str | os.PathLike[str], name: str) -> Path:
    return model_dir(root, name) / "aliases"


def events_dir(root: str | os.PathLike[str], name: str) -> Path:
    return model_dir(root, name) / "events"


def links_dir(root: str | os.PathLike[str], name: str, version: int) -> Path:
    return model_dir(root, name) / "links" / str(int(version))


def model_names(root: str | os.PathLike[str]) -> list[str]:
    base = models_root(root)
    if not base.is_dir():
        return []
    return sorted(e.name for e in os.scandir(base)
                  if e.is_dir() and _NAME.match(e.name) and (Path(e.path) / "versions").is_dir())


def who() -> dict[str, str]:
    """The user and host a decision or registration is recorded with."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return {"user": user, "host": socket.gethostname()}


# A FUSE client of GlusterFS can answer ENOENT (its cached entry points at the inode a
# concurrent rename just replaced) or ESTALE for a file that exists: look again before
# concluding it is absent.


def read_settled(path: Path) -> bytes | None:
    """The file's bytes, or None when it is really absent (store.atomic settles renames)."""
    try:
        return atomic.read_settled(path)
    except FileNotFoundError:
        return None
