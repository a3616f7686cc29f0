"""One experiment as the site shows it: its runs in pages, which runs have a page of their own,
and the experiment page's context (a small index; the rows are in data files, see data.py).

Why not every run has a static page: a page is ~8 kB and ~1 ms to render, so 100,000 of them
made a 0.8 GB site and most of a 3-minute build.  A run gets ``runs/<id>.html`` when it is one
of the ``run_pages`` newest runs of its experiment, the experiment's best run or its study's
best trial, or not a training run (audit, drift, inference runs: the pages that link them are
about them).  Every other run opens in the experiment page itself (``#run=<id>``: its row,
params, metrics and curves); `dii-hpc ui` renders any run's page on demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dii_hpc.report import data, display
from dii_hpc.report.groups import groups_context, is_archived
from dii_hpc.report.source import RunEntry
from dii_hpc.report.study import study_context

MAX_PARAM_COLS = 40
MAX_METRIC_COLS = 12
RUN_PAGES = 1000
PARCOORDS_MAX = 1500  # lines drawn before the page samples (site/explore.js says so)
SCATTER_MAX = 3000    # points drawn before the page samples (site/experiment.js says so)


@dataclass
class Layout:
    """Everything decided about an experiment before any file is written."""

    name: str
    runs: list[RunEntry]  # oldest first: the order of the data pages
    pkeys: list[str]
    mkeys: list[str]
    primary: str | None
    best: str | None
    study: dict[str, Any] | None
    with_page: set[str] = field(default_factory=set)

    @property
    def pages(self) -> list[list[RunEntry]]:
        return data.paged(self.runs)

    def has_page(self, run_id: str) -> bool:
        return run_id in self.with_page


def _columns(runs: list[RunEntry], what: str, cap: int) -> list[str]:
    count: dict[str, int] = {}
    for run in runs:
        for key in run.record.get(what) or {}:
            count[key] = count.get(key, 0) + 1
    return sorted(count, key=lambda k: (-count[k], k))[:cap]


def layout(name: str, runs: list[RunEntry], run_pages: int | None = RUN_PAGES) -> Layout:
    """``runs`` oldest first (as `source.load_experiment` gives them); ``run_pages`` None: a
    page for every run (what `dii-hpc ui` serves)."""
    pkeys = _columns(runs, "params", MAX_PARAM_COLS)
    mkeys = _columns(runs, "metrics", MAX_METRIC_COLS)
    study = study_context(runs)
    primary = (study["metric"] if study and study["metric"] in mkeys
               else display.primary_metric(mkeys))
    best = display.best_run([r for r in runs if not is_archived(r)], primary)
    out = Layout(name, runs, pkeys, mkeys, primary, best, study)
    if run_pages is None or len(runs) <= run_pages:
        out.with_page = {r.run_id for r in runs}
    else:
        newest = runs[len(runs) - run_pages:] if run_pages > 0 else []
        out.with_page = {r.run_id for r in newest} | {r.run_id for r in runs if r.kind != "train"}
        picked = [best, study["best"]["run_id"] if study and study.get("best") else None]
        out.with_page |= {rid for rid in picked if rid}
    return out


def rows(lay: Layout, page: list[RunEntry]) -> list[list[Any]]:
    return [data.row(r, lay.pkeys, lay.mkeys, lay.has_page(r.run_id), is_archived(r))
            for r in page]


def rows_inputs(lay: Layout, k: int) -> Any:
    """What a rows page depends on (its incremental-build key)."""
    return ["rows", lay.pkeys, lay.mkeys,
            [(r.fingerprint, lay.has_page(r.run_id)) for r in lay.pages[k]]]


def hist_inputs(lay: Layout, k: int) -> Any:
    return ["hist", [r.fingerprint for r in lay.pages[k]]]


def _scatter_param(runs: list[RunEntry], pkeys: list[str]) -> str | None:
    """The param first shown against the metric: the numeric one that varies most
    (ids and seeds excluded: they vary most and explain nothing)."""
    import re

    best, spread = None, 1
    for key in pkeys:
        if re.search(r"seed|(^|_)id$|index|^run", key, re.IGNORECASE):
            continue
        numeric: set[float] = set()
        for r in runs:
            n = display.number((r.record.get("params") or {}).get(key))
            if n is not None:  # lists/dicts: skipped
                numeric.add(n)
                if len(numeric) > 1000:
                    break
        if len(numeric) > spread:
            best, spread = key, len(numeric)
    return best or (pkeys[0] if pkeys else None)


def context(lay: Layout, curves: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The experiment page's context; ``curves``: run id -> its encoded curves (data.py),
    at least for the members of the seed groups shown."""
    runs = lay.runs
    pages = lay.pages
    grouped = groups_context(runs, lay.mkeys, curves, lay.primary)
    best_name = next((display.display_name(r.record) for r in runs if r.run_id == lay.best), None)
    return {
        "name": lay.name, "study": lay.study, "n_runs": len(runs),
        "n_archived": sum(1 for r in runs if is_archived(r)),
        "param_keys": lay.pkeys, "metric_keys": lay.mkeys, "primary": lay.primary,
        "best": lay.best, "best_name": best_name, "counts": display.status_counts(runs),
        "seed_groups": grouped["seed_groups"], "groups_note": grouped["note"],
        "n_pages": len(lay.with_page), "all_pages": len(lay.with_page) == len(runs),
        "lower": {k: display.lower_is_better(k) for k in lay.mkeys},
        "data": {
            "name": lay.name, "folder": "../" + data.folder(lay.name),
            "columns": data.columns(lay.pkeys, lay.mkeys), "params": lay.pkeys,
            "metrics": lay.mkeys, "primary": lay.primary, "best": lay.best,
            "lower": {k: display.lower_is_better(k) for k in lay.mkeys},
            "scatter": _scatter_param(runs, lay.pkeys), "total": len(runs),
            "archived": [i for i, r in enumerate(runs) if is_archived(r)],
            "best_at": next((i for i, r in enumerate(runs) if r.run_id == lay.best), None),
            "pages": [len(p) for p in pages], "page_rows": data.PAGE_ROWS,
            "groups": grouped["groups_data"], "limits": {"parcoords": PARCOORDS_MAX,
                                                         "scatter": SCATTER_MAX},
        },
    }


def inputs(lay: Layout) -> Any:
    """What the experiment page depends on (its incremental-build key)."""
    return ["experiment", [r.fingerprint for r in lay.runs], len(lay.with_page)]
