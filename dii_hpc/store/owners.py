"""Owners of store folders: what the store must know about folders other packages keep.

`store gc`, `store merge` and `store check` act on the whole store, but some top-level folders
hold records whose meaning belongs to a package above the store (the registry's ``models/``
holds version records that name weight blobs no run may name any more).  Each such folder has
a `FolderOwner` that tells the store the blobs its records hold, how a source store's copy
joins the destination's, and what damage `store check` should report.

The store consults every owner by default, so a Python caller of ``gc``/``merge``/``check``
gets the protection the CLI gets, and it does so without importing the packages above it
(design.md): a package that keeps a store folder says so in one module of its own,
``dii_hpc/<package>/storefolder.py``, defining ``OWNER``; the store finds those modules by
that name (as Django finds each app's ``admin`` module), never by a list of packages.  An
owner that cannot be loaded stops the operation: what it holds would be unknown.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dii_hpc.errors import InfraError

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.check import Problem

#: (source folder, destination folder, dry run, the plain-file rule) -> (files written, notes)
FolderMerger = Callable[[Path, Path, bool, Callable[[Path, Path], bool]], tuple[int, list[str]]]


def _none(root: Path) -> set[str]:
    return set()


def _no_problems(root: Path) -> list[Problem]:
    return []


@dataclass(frozen=True)
class FolderOwner:
    """What the package keeping ``<store>/<folder>/`` tells the store about it."""

    folder: str
    #: store root -> sha256 of every blob its records still need (gc keeps them)
    held_blobs: Callable[[Path], set[str]] = _none
    #: how a source store's folder joins the destination's (see ``store.merge``); None: the
    #: store's own rule for the folder (``merge.NOT_MERGED``)
    merge: FolderMerger | None = None
    #: store root -> damage in its records (``store check``)
    check: Callable[[Path], list[Problem]] = _no_problems
    #: store root -> names of entries of the folder still in use, which gc keeps whatever
    #: their age (a submission whose jobs may still be queued or running)
    in_use: Callable[[Path], set[str]] = _none


MODULE = "storefolder"  # dii_hpc/<package>/storefolder.py defines OWNER


@functools.cache
def owners() -> dict[str, FolderOwner]:
    """folder name -> its owner, for every ``dii_hpc.<package>.storefolder`` module."""
    out: dict[str, FolderOwner] = {}
    base = Path(__file__).resolve().parents[1]  # the dii_hpc package folder
    for info in pkgutil.iter_modules([str(base)]):
        if not (info.ispkg and (base / info.name / f"{MODULE}.py").is_file()):
            continue
        ref = f"dii_hpc.{info.name}.{MODULE}"
        try:
            owner = importlib.import_module(ref).OWNER
        except (ImportError, AttributeError) as err:
            raise InfraError(f"the owner of a store folder ({ref}) cannot be loaded: {err}; "
                             "nothing was changed") from err
        if not isinstance(owner, FolderOwner) or owner.folder in out:
            raise InfraError(f"{ref}.OWNER is not the one FolderOwner of its store folder")
        out[owner.folder] = owner
    return out


def held_blobs(root: Path) -> set[str]:
    """Every blob some owner's records hold."""
    out: set[str] = set()
    for owner in owners().values():
        out |= owner.held_blobs(root)
    return out


def mergers() -> dict[str, FolderMerger]:
    return {name: owner.merge for name, owner in owners().items() if owner.merge is not None}


def in_use(root: Path, folder: str) -> set[str]:
    """Names under ``<root>/<folder>/`` its owner says are still in use (none if unowned)."""
    owner = owners().get(folder)
    return owner.in_use(root) if owner is not None else set()


def check(root: Path) -> list[Problem]:
    out: list[Problem] = []
    for owner in owners().values():
        out += owner.check(root)
    return out
