"""The site's one renderer: every page and data file of the site, made from the store.

`report build` (build.py) loads a `Site`, asks it which files exist and writes the stale
ones; `report.serve.render` (serve.py) asks the same `Site` for one file on demand.  Both go
through the methods below, so a page served by `dii-hpc ui` is byte for byte what a build
writes (except that the server gives every run a page: ``run_pages=None``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.report import data, experiment, pages, parallel, resources, sections
from dii_hpc.report.experiment import RUN_PAGES, Layout
from dii_hpc.report.render import make_env
from dii_hpc.report.source import RunEntry, StoreReader, histories, load_run, run_ids

if TYPE_CHECKING:
    from dii_hpc.report import pipelines


def _load_one(store: StoreReader, item: tuple[str, str]) -> tuple[str, Any]:
    """(experiment, its entry) or (experiment, (run id, why unreadable)); runs in workers."""
    from dii_hpc.errors import DiiError

    name, rid = item
    try:
        return name, load_run(store, rid)
    except (DiiError, OSError, ValueError) as err:
        return name, (rid, str(err).splitlines()[0] if str(err) else type(err).__name__)


class Site:
    """Loaded experiments, their layouts, and how each page of the site is rendered."""

    def __init__(self, store: StoreReader, run_pages: int | None = RUN_PAGES) -> None:
        self.store = store
        self.run_pages = run_pages
        self.env = make_env()
        self.tfp = resources.fingerprint()
        self.runs: dict[str, list[RunEntry]] = {}  # experiment -> runs, oldest first
        self.layouts: dict[str, Layout] = {}
        self.where: dict[str, str] = {}  # run id -> experiment
        self.by_id: dict[str, RunEntry] = {}
        self.damaged: list[tuple[str, str]] = []
        self._evasion: dict[str, list[RunEntry]] | None = None  # model key -> evasion audits

    # ---------------------------------------------------------------- loading
    def load(self, names: list[str], workers: int = 1) -> None:
        """Read every run of ``names`` (forked workers for many); unreadable runs go to
        ``damaged`` so that one torn record does not take the whole site down."""
        items = [(name, rid) for name in names for rid in run_ids(self.store, name)]
        got: dict[str, list[RunEntry]] = {name: [] for name in names}
        read = functools.partial(_load_one, self.store)
        for name, entry in parallel.map_runs(read, items, workers, chunk=256):
            if isinstance(entry, RunEntry):
                got[name].append(entry)
            else:
                self.damaged.append(entry)
        for name, runs in got.items():
            self.add(name, runs)

    def add(self, name: str, runs: list[RunEntry]) -> None:
        runs.sort(key=lambda r: (r.start, r.run_id))
        self.runs[name] = runs
        self.layouts[name] = experiment.layout(name, runs, self.run_pages)
        self.where.update((r.run_id, name) for r in runs)
        self.by_id.update((r.run_id, r) for r in runs)
        self._evasion = None

    def everything(self) -> list[RunEntry]:
        return [r for runs in self.runs.values() for r in runs]

    def entry(self, run_id: str) -> RunEntry | None:
        return self.by_id.get(run_id)

    # ---------------------------------------------------------------- links
    def run_href(self, run_id: str) -> str:
        """Where a link to a run goes: its page, else its row in the experiment page."""
        name = self.where.get(run_id)
        if name is None or self.layouts[name].has_page(run_id):
            return pages.run_path(run_id)
        return f"{pages.experiment_path(name)}#run={run_id}"

    def has_page(self, run_id: str) -> bool:
        name = self.where.get(run_id)
        return name is not None and self.layouts[name].has_page(run_id)

    def html(self, path: str, template: str, ctx: dict[str, Any]) -> str:
        links = {**pages.PATHS, "run_path": self.run_href}
        return self.env.get_template(template).render(root="../" * path.count("/"), page=path,
                                                      **links, **ctx)

    # ---------------------------------------------------------------- runs
    def run_files(self, run: RunEntry) -> list[str]:
        """The pages a run has: its page (when it has one), its audit page (audits)."""
        out = [pages.run_path(run.run_id)] if self.has_page(run.run_id) else []
        from dii_hpc.records import audit

        if run.kind == "audit" and audit.of(run.record) is not None:
            out.append(pages.audit_path(run.run_id))
        return out

    def run_inputs(self, run: RunEntry) -> Any:
        parent = run.record.get("parent_run")
        return [run.fingerprint, self.run_href(parent) if isinstance(parent, str) else None,
                *(p.fingerprint for p in self.partners(run))]

    def partners(self, run: RunEntry) -> list[RunEntry]:
        """The evasion audits of a certification audit's model (its page draws them)."""
        from dii_hpc.report import certified

        if run.kind != "audit" or not certified.is_certification(run.record):
            return []
        if self._evasion is None:
            self._evasion = {}
            for r in self.everything():
                key = certified.model_key(r.record) if r.kind == "audit" else None
                if key and certified.is_empirical(r.record):
                    self._evasion.setdefault(key, []).append(r)
        return self._evasion.get(certified.model_key(run.record) or "", [])

    def histories(self, run: RunEntry) -> dict[str, tuple[list[float], list[float]]]:
        return histories(self.store, run)

    def run_page(self, run: RunEntry, hist: dict[str, Any], arts: list[dict[str, Any]]) -> str:
        path = pages.run_path(run.run_id)
        return self.html(path, "run.html", pages.run_context(run, hist, arts, self.where))

    def audit_page(self, run: RunEntry, arts: list[dict[str, Any]]) -> str:
        return self.html(pages.audit_path(run.run_id), "audit.html",
                         sections.audit_context(run, arts, self.partners(run)))

    def full_js(self, run: RunEntry, hist: dict[str, Any]) -> str:
        return data.to_js(f"full/{run.run_id}", data.full_curves(hist))

    # ---------------------------------------------------------------- experiments
    def experiment_page(self, name: str, curves: dict[str, dict[str, Any]]) -> str:
        lay = self.layouts[name]
        return self.html(pages.experiment_path(name), "experiment.html",
                         experiment.context(lay, curves))

    def rows_js(self, name: str, k: int) -> str:
        lay = self.layouts[name]
        return data.to_js(f"runs-{k}", experiment.rows(lay, lay.pages[k]))

    def hist_js(self, name: str, k: int, curves: dict[str, dict[str, Any]],
                longer: dict[str, bool]) -> str:
        """``{"c": each run's curves, "f": the slots of runs with a full-series file}``."""
        page = self.layouts[name].pages[k]
        return data.to_js(f"hist-{k}", {"c": [curves.get(r.run_id, {}) for r in page],
                                        "f": [i for i, r in enumerate(page)
                                              if longer.get(r.run_id)]})

    def curves(self, runs: list[RunEntry]) -> tuple[dict[str, Any], dict[str, bool]]:
        """Encoded curves of ``runs`` and which have a full series, read from the store now
        (serve; a build keeps them between builds)."""
        read = {r.run_id: data.run_curves(self.histories(r)) for r in runs}
        return ({rid: c for rid, (c, _) in read.items()},
                {rid: long for rid, (_, long) in read.items()})

    # ---------------------------------------------------------------- other pages
    def monitor_page(self, name: str, group: list[RunEntry]) -> str:
        return self.html(pages.monitor_path(name), "monitor.html",
                         sections.monitor_context(name, group))

    def model_page(self, name: str, model: dict[str, Any]) -> str:
        from dii_hpc.report import models

        return self.html(pages.model_path(name), "model.html",
                         models.context(name, model, self.by_id))

    def pipeline_page(self, pid: str, saved: pipelines.Saved) -> str:
        from dii_hpc.report import pipelines

        return self.html(pages.pipeline_path(pid), "pipeline.html",
                         pipelines.context(pid, saved, self.where))

    def index_context(self, saved_models: dict[str, Any],
                      saved_pipelines: dict[str, pipelines.Saved]) -> dict[str, Any]:
        from dii_hpc.report import models, pipelines

        return {**sections.index_context(self.runs), "models": models.index_rows(saved_models),
                "pipelines": pipelines.index_rows(saved_pipelines)}

    def index_page(self, context: dict[str, Any]) -> str:
        return self.html("index.html", "index.html", context)


def artifacts(run: RunEntry, out: Path | None) -> list[dict[str, Any]]:
    """A run's artifacts for its pages; ``out``: the site folder they are linked into (a
    build), None when a server hands out the blobs itself."""
    return pages.publish_artifacts(run, out)
