"""Installed versions of packages, for the manifests that make a run or an audit reproducible.

Read once per process and package: the metadata scan costs ~2 ms a package, and a study
worker opens a run per trial and an audit writes a manifest per attack.
"""

from __future__ import annotations

import functools


@functools.cache
def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions(names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """name -> installed version, for the ``names`` that are installed (in their order)."""
    return {name: v for name in names if (v := _version(name)) is not None}
