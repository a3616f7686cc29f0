"""Static HTML report: reads the store, renders Jinja2 templates, never computes results.

``dii-hpc report build [--out DIR] [-e EXPERIMENT ...] [--force]`` (default DIR: ``<store>/site``,
next to the data it shows, so artifact blobs can be hard-linked instead of copied) writes::

    index.html                      experiments, latest audits (grades), drift monitors
    experiments/<experiment>.html   run table (sort/filter), overlaid curves, param scatter
    data/<experiment>/              the run table in pages and every run's curves (data.py)
    runs/<run_id>.html              params, metric charts, manifest, Slurm accounting, logs
                                    (at scale only some runs: experiment.py says which)
    audits/<run_id>.html            grade, attacks with intervals, curves, examples, config
    monitors/<monitor>.html         drift trend and per-feature table of the latest check
    files/<sha256>/<name>           artifacts (hard link, else copy)
    static/                         style.css and app.js (no CDN, no network)
    .dii-report/                    incremental-build manifest and where each run's curves are

Python: ``build_site(store, out=None, experiment=None, force=False, progress=None,
workers=None, run_pages=1000) -> BuildResult`` (``.index`` is the path of index.html).
``serve.render(store, path)``: one file of the site on demand (what `dii-hpc ui` serves).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.report.build import BuildResult
    from dii_hpc.report.source import StoreReader


def build_site(store: StoreReader, out: Any = None, experiment: list[str] | None = None,
               force: bool = False, progress: bool | None = None,
               workers: int | None = None, run_pages: int | None = 1000) -> BuildResult:
    """Render ``store`` into a static site; see :mod:`dii_hpc.report.build`."""
    from dii_hpc.report.build import build_site as _build

    return _build(store, out=out, experiment=experiment, force=force, progress=progress,
                  workers=workers, run_pages=run_pages)


__all__ = ["build_site"]
