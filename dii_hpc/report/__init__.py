"""Static HTML report: reads the store, renders Jinja2 templates, never computes results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.report.build import BuildResult


def build_site(store: Any, out: Any = None, experiment: list[str] | None = None,
               force: bool = False, progress: bool | None = None,
               workers: int | None = None) -> BuildResult:
    """Render ``store`` into a static site; see :mod:`dii_hpc.report.build`."""
    from dii_hpc.report.build import build_site as _build

    return _build(store, out=out, experiment=experiment, force=force, progress=progress,
                  workers=workers)


__all__ = ["build_site"]
