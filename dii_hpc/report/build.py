"""Build the static site: load the store, write the pages and data files whose inputs changed,
copy static files.  What each file holds is site.py's (the one renderer); this module decides
which files are stale and keeps the build incremental.

Incremental rebuild: every file has an input hash (its runs' fingerprints plus the templates'
fingerprint); ``.dii-report/manifest.json`` keeps the hash each file was written from, so an
unchanged store costs one pass over run.json files and no rendering.  A run's metric arrays
are read only when its own page must be written, or when its data page must and the curves
the last build wrote for it are stale: ``.dii-report/runs/<experiment>.json`` says where in
which ``hist-<k>.js`` they are.  Adding one run to a 100,000-run experiment reads that run's
metrics and rewrites its pages, the last data pages, the experiment page and the index.
"""

from __future__ import annotations

import functools
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dii_hpc import progress as bars
from dii_hpc.report import data, experiment, models, pages, parallel, pipelines, resources, sections
from dii_hpc.report.display import safe_name
from dii_hpc.report.experiment import RUN_PAGES
from dii_hpc.report.groups import members
from dii_hpc.report.render import write_text
from dii_hpc.report.site import Site, artifacts
from dii_hpc.report.source import RunEntry, StoreReader, digest, experiments

STATE = ".dii-report"
FORMAT = 2


@dataclass
class BuildResult:
    """What a build did; the CLI prints it."""

    out: Path
    rendered: int = 0
    skipped: int = 0
    removed: int = 0
    runs: int = 0
    seconds: float = 0.0
    pages: list[str] = field(default_factory=list)
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (run id, why), skipped

    @property
    def index(self) -> Path:
        return self.out / "index.html"


class _Builder:
    """The manifest: which files the last build wrote from which inputs."""

    def __init__(self, out: Path, tfp: str, force: bool, workers: int) -> None:
        self.out, self.tfp, self.workers = out, tfp, workers
        self.written = _load_manifest(out)  # every file the last build wrote (for removal)
        same = self.written.pop("\0templates", None) == tfp
        self.old = self.written if same and not force else {}  # those still valid (skipping)
        self.new: dict[str, str] = {}
        self.progress = bars.Bar()

    def key(self, inputs: Any) -> str:
        return digest([self.tfp, inputs])

    def fresh(self, path: str, key: str) -> bool:
        return self.old.get(path) == key and (self.out / path).is_file()

    def stale(self, path: str, inputs: Any) -> bool:
        """Record ``path``'s key for this build; True when the file must be written."""
        key = self.new[path] = self.key(inputs)
        return not self.fresh(path, key)

    def file(self, path: str, inputs: Any, text: Any, result: BuildResult) -> None:
        """Write ``path`` (``text``: a string or a function giving it) unless it is fresh."""
        if not self.stale(path, inputs):
            result.skipped += 1
            return
        write_text(self.out / path, text() if callable(text) else text)
        self.done(result, [path])

    def done(self, result: BuildResult, paths: list[str]) -> None:
        result.rendered += len(paths)
        result.pages.extend(paths)
        self.progress.advance(len(paths))


def _load_manifest(out: Path) -> dict[str, str]:
    """File -> input hash of the last build (plus its templates' fingerprint under a NUL key)."""
    try:
        saved = json.loads((out / STATE / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    if saved.get("format") != FORMAT:
        return {}
    return {**dict(saved.get("pages") or {}), "\0templates": str(saved.get("templates"))}


def _copy_static(out: Path) -> None:
    src = resources.static_dir()
    for path in src.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            dest = out / "static" / path.relative_to(src)
            if not dest.is_file() or dest.read_bytes() != path.read_bytes():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)


def build_site(store: StoreReader, out: str | Path | None = None,
               experiment: list[str] | None = None, force: bool = False,
               progress: bool | None = None, workers: int | None = None,
               run_pages: int | None = RUN_PAGES) -> BuildResult:
    """Render ``store`` into ``out`` (default ``<store>/site``); see the module docstring.
    ``run_pages``: how many of an experiment's newest runs get a page of their own (None:
    all; experiment.py says which others do)."""
    t0 = time.perf_counter()
    out_dir = Path(out) if out else Path(store.root) / "site"
    out_dir.mkdir(parents=True, exist_ok=True)
    result = BuildResult(out_dir.resolve())
    site = Site(store, run_pages)
    b = _Builder(out_dir, site.tfp, force, workers or parallel.default_workers())
    _copy_static(out_dir)
    site.load(experiments(store, experiment), b.workers)
    result.damaged.extend(site.damaged)
    result.runs = len(site.where)
    saved_models = models.load(store) if not experiment else {}
    saved_pipelines = pipelines.load(store.root) if not experiment else {}
    cache = {name: _Curves(out_dir, name, site.runs[name], force) for name in site.runs}
    todo = _plan(b, site, cache, result)
    total = (len(todo) + sum(len(lay.pages) * 2 + 1 for lay in site.layouts.values())
             + 1 + len(saved_models) + len(saved_pipelines))
    with bars.bar("report: pages", total, enabled=progress) as b.progress:
        _read_runs(b, site, todo, cache, result)
        for name in site.layouts:
            _experiment_files(b, site, name, cache[name], result)
        _other_pages(b, site, saved_models, saved_pipelines, result)
    if not experiment:
        result.removed = _remove_stale(out_dir, b.written, b.new)
    _save_manifest(out_dir, b, experiment)
    for curves in cache.values():
        curves.save()
    result.seconds = time.perf_counter() - t0
    return result


class _Curves:
    """Every run's encoded curves for one experiment: read this build, or kept from the last
    one (its hist-<k>.js files, located through the state file)."""

    def __init__(self, out: Path, name: str, runs: list[RunEntry], force: bool) -> None:
        self.out, self.name = out, name
        self.path = out / STATE / "runs" / f"{safe_name(name)}.json"
        self.runs = runs
        self.old: dict[str, list[Any]] = {} if force else self._load()  # rid -> fp, k, slot, long
        self.fresh: dict[str, dict[str, Any]] = {}
        self.longer: dict[str, bool] = {}
        self._pages: dict[int, dict[str, Any] | None] = {}

    def _load(self) -> dict[str, list[Any]]:
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return saved.get("runs", {}) if saved.get("format") == FORMAT else {}

    def kept(self, run: RunEntry) -> bool:
        """Whether the last build's curves of ``run`` can be used (same fingerprint)."""
        old = self.old.get(run.run_id)
        return old is not None and bool(old) and old[0] == run.fingerprint \
            and self._page(old[1]) is not None

    def _page(self, k: int) -> dict[str, Any] | None:
        if k not in self._pages:
            try:
                text = (self.out / data.hist_path(self.name, k)).read_text()
                self._pages[k] = data.read_js(text)
            except (OSError, ValueError):
                self._pages[k] = None
        return self._pages[k]

    def load_kept(self, run_ids: set[str]) -> None:
        """Read the kept curves of ``run_ids`` before any hist file is rewritten."""
        for rid in run_ids:
            if rid not in self.fresh and rid in self.old:
                _, k, slot, longer = self.old[rid]
                page = (self._page(k) or {}).get("c") or []
                self.fresh[rid] = page[slot] if slot < len(page) else {}
                self.longer[rid] = bool(longer)

    def get(self, run_id: str) -> dict[str, Any]:
        return self.fresh.get(run_id, {})

    def save(self) -> None:
        state: dict[str, list[Any]] = {}
        for k, page in enumerate(data.paged(self.runs)):
            for slot, run in enumerate(page):
                old = self.old.get(run.run_id)
                longer = self.longer.get(run.run_id, bool(old and old[3]))
                state[run.run_id] = [run.fingerprint, k, slot, int(longer)]
        if state != self.old:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text(self.path, json.dumps({"format": FORMAT, "runs": state},
                                             separators=(",", ":")))


def _plan(b: _Builder, site: Site, cache: dict[str, _Curves],
          result: BuildResult) -> list[tuple[RunEntry, bool]]:
    """(run, whether its pages are stale) of every run whose metric arrays must be read."""
    todo = []
    for name, lay in site.layouts.items():
        curves = cache[name]
        need: set[str] = set()
        for k in range(len(lay.pages)):
            if b.stale(data.hist_path(name, k), experiment.hist_inputs(lay, k)):
                need |= {r.run_id for r in lay.pages[k]}
        if b.stale(pages.experiment_path(name), experiment.inputs(lay)):
            need |= members(lay.runs, lay.primary)
        for run in lay.runs:
            paths = site.run_files(run)
            stale = [p for p in paths if b.stale(p, site.run_inputs(run))]
            result.skipped += len(paths) - len(stale)
            full = _keep_full(b, curves, run)
            if stale or full or (run.run_id in need and not curves.kept(run)):
                todo.append((run, bool(stale)))
        curves.load_kept(need - {r.run_id for r, _ in todo})
    return todo


def _keep_full(b: _Builder, curves: _Curves, run: RunEntry) -> bool:
    """Keep the full-series file of an unchanged run; True when it must be written again."""
    old = curves.old.get(run.run_id)
    if not (old and old[3] and old[0] == run.fingerprint):
        return False
    return b.stale(data.full_path(curves.name, run.run_id), ["full", run.fingerprint])


def _read_run(b: _Builder, site: Site, item: tuple[RunEntry, bool]) -> tuple[Any, ...]:
    """Read a run's metrics, write its pages when stale and its full series when long;
    may run in a worker process (see parallel.py)."""
    run, pages_stale = item
    hist = site.histories(run)
    written = []
    if pages_stale:
        arts = artifacts(run, b.out)
        for path in site.run_files(run):
            html = (site.run_page(run, hist, arts) if path.startswith("runs/")
                    else site.audit_page(run, arts))
            write_text(b.out / path, html)
            written.append(path)
    curves, longer = data.run_curves(hist)
    if longer:
        path = data.full_path(site.where[run.run_id], run.run_id)
        write_text(b.out / path, site.full_js(run, hist))
        written.append(path)
    return run.run_id, written, curves, longer


def _read_runs(b: _Builder, site: Site, todo: list[tuple[RunEntry, bool]],
               cache: dict[str, _Curves], result: BuildResult) -> None:
    read = functools.partial(_read_run, b, site)
    for run_id, written, curves, longer in parallel.map_runs(read, todo, b.workers):
        name = site.where[run_id]
        cache[name].fresh[run_id] = curves
        cache[name].longer[run_id] = longer
        if longer:
            b.new[data.full_path(name, run_id)] = b.key(["full", site.by_id[run_id].fingerprint])
        b.done(result, written)


def _experiment_files(b: _Builder, site: Site, name: str, curves: _Curves,
                      result: BuildResult) -> None:
    lay = site.layouts[name]
    for k in range(len(lay.pages)):
        b.file(data.rows_path(name, k), experiment.rows_inputs(lay, k),
               lambda k=k: site.rows_js(name, k), result)
        path = data.hist_path(name, k)
        if b.fresh(path, b.new[path]):
            result.skipped += 1
        else:
            write_text(b.out / path, site.hist_js(name, k, curves.fresh, curves.longer))
            b.done(result, [path])
    path = pages.experiment_path(name)
    if b.fresh(path, b.new[path]):
        result.skipped += 1
    else:
        write_text(b.out / path, site.experiment_page(name, curves.fresh))
        b.done(result, [path])


def _other_pages(b: _Builder, site: Site, saved_models: dict[str, Any],
                 saved_pipelines: dict[str, Any], result: BuildResult) -> None:
    """Monitor, model, pipeline and index pages."""
    for name, group in sections.monitors(site.everything()).items():
        b.file(pages.monitor_path(name), [r.fingerprint for r in group],
               lambda n=name, g=group: site.monitor_page(n, g), result)
    for name, model in saved_models.items():
        linked = [(site.by_id[r].fingerprint, site.run_href(r))
                  for r in models.linked_runs(model) if r in site.by_id]
        b.file(pages.model_path(name), [model, linked],
               lambda n=name, m=model: site.model_page(n, m), result)
    for pid, saved in saved_pipelines.items():
        b.file(pages.pipeline_path(pid), pipelines.fingerprint(saved, site.where, site.run_href),
               lambda i=pid, p=saved: site.pipeline_page(i, p), result)
    index = site.index_context(saved_models, saved_pipelines)
    b.file("index.html", index, lambda: site.index_page(index), result)


def _remove_stale(out: Path, old: dict[str, str], new: dict[str, str]) -> int:
    removed = 0
    for path in set(old) - set(new):
        target = out / path
        if target.is_file():
            target.unlink()
            removed += 1
    return removed


def _save_manifest(out: Path, b: _Builder, experiment: list[str] | None) -> None:
    from dii_hpc.store.atomic import write_json

    pages_map = {**b.written, **b.new} if experiment else b.new
    write_json(out / STATE / "manifest.json",
               {"format": FORMAT, "templates": b.tfp, "pages": pages_map})
