"""Build the static site: scan the store, re-render pages whose inputs changed, copy static files.

Incremental rebuild: every page has an input hash (its runs' fingerprints plus the templates'
fingerprint); ``.dii-report/manifest.json`` in the output keeps the hash each page was built
from, so an unchanged store costs one pass over run.json files and no rendering.
Downsampled curves of every run are cached per experiment, so adding one run to a 1,000-run
experiment reads one run's metrics, not a thousand.
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
from dii_hpc.report import models, pages, parallel, pipelines, resources, sections
from dii_hpc.report.display import safe_name
from dii_hpc.report.render import make_env, write_text
from dii_hpc.report.source import (
    RunEntry,
    StoreReader,
    digest,
    experiments,
    histories,
    load_experiment,
)

STATE = ".dii-report"
FORMAT = 1


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
    def __init__(self, store: StoreReader, out: Path, force: bool, progress: bool | None,
                 workers: int) -> None:
        self.store, self.out, self.force, self.progress_flag = store, out, force, progress
        self.workers = workers
        self.env = make_env()
        self.tfp = resources.fingerprint()
        # every page the last build wrote (for removal) / those still valid (for skipping)
        self.written = _load_manifest(out)
        same = self.written.pop("\0templates", None) == self.tfp
        self.old = self.written if same and not force else {}
        self.new: dict[str, str] = {}
        self.progress = bars.Bar()

    def key(self, inputs: Any) -> str:
        return digest([self.tfp, inputs])

    def fresh(self, path: str, key: str) -> bool:
        return self.old.get(path) == key and (self.out / path).is_file()

    def render(self, path: str, template: str, ctx: dict[str, Any]) -> None:
        html = self.env.get_template(template).render(root="../" * path.count("/"), page=path,
                                                      **pages.PATHS, **ctx)
        write_text(self.out / path, html)

    # one page: skip when its input hash is unchanged and the file is still there
    def page(self, path: str, inputs: Any, template: str, context: Any, result: BuildResult) -> None:
        key = self.key(inputs)
        self.new[path] = key
        if self.fresh(path, key):
            result.skipped += 1
            return
        self.render(path, template, context() if callable(context) else context)
        self.done(result, [path])

    def done(self, result: BuildResult, paths: list[str]) -> None:
        result.rendered += len(paths)
        result.pages.extend(paths)
        self.progress.advance(len(paths))


def _load_manifest(out: Path) -> dict[str, str]:
    """Page -> input hash of the last build (plus its templates' fingerprint under a NUL key)."""
    try:
        data = json.loads((out / STATE / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    if data.get("format") != FORMAT:
        return {}
    return {**dict(data.get("pages") or {}), "\0templates": str(data.get("templates"))}


def _copy_static(out: Path) -> None:
    src = resources.static_dir()
    for path in src.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            dest = out / "static" / path.relative_to(src)
            if not dest.is_file() or dest.read_bytes() != path.read_bytes():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)


def build_site(store: StoreReader, out: str | Path | None = None, experiment: list[str] | None = None,
               force: bool = False, progress: bool | None = None,
               workers: int | None = None) -> BuildResult:
    """Render ``store`` into ``out`` (default ``<store>/site``); see the module docstring."""
    t0 = time.perf_counter()
    out_dir = Path(out) if out else Path(store.root) / "site"
    out_dir.mkdir(parents=True, exist_ok=True)
    result = BuildResult(out_dir.resolve())
    b = _Builder(store, out_dir, force, progress, workers or parallel.default_workers())
    _copy_static(out_dir)
    by_exp = {name: load_experiment(store, name, result.damaged)
              for name in experiments(store, experiment)}
    result.runs = sum(len(v) for v in by_exp.values())
    known = {r.run_id for runs in by_exp.values() for r in runs}
    todo = _stale_runs(b, by_exp, result)
    saved_models = models.load(store) if not experiment else {}
    saved_pipelines = pipelines.load(store.root) if not experiment else {}
    total = (sum(len(_run_pages_of(r)) for r in todo) + len(by_exp) + 1 + len(saved_models)
             + len(saved_pipelines))
    with bars.bar("report: pages", total, enabled=progress) as b.progress:
        _render_all(b, by_exp, todo, known, result, saved_models, saved_pipelines)
    if not experiment:
        result.removed = _remove_stale(out_dir, b.written, b.new)
    _save_manifest(out_dir, b, experiment)
    result.seconds = time.perf_counter() - t0
    return result


def _render_all(b: _Builder, by_exp: dict[str, list[RunEntry]], todo: list[RunEntry],
                known: set[str], result: BuildResult, saved_models: dict[str, Any],
                saved_pipelines: dict[str, Any]) -> None:
    """Every stale run page (in forked workers), then experiment, monitor, model, pipeline
    and index pages."""
    curves: dict[str, dict[str, Any]] = {}
    render = functools.partial(_render_run, b, known)
    for run_id, paths, small in parallel.map_runs(render, todo, b.workers):
        b.done(result, paths)
        curves[run_id] = small
    for name, runs in by_exp.items():
        _experiment_page(b, name, runs, curves, result)
    everything = [r for runs in by_exp.values() for r in runs]
    for name, group in sections.monitors(everything).items():
        b.page(pages.monitor_path(name), [r.fingerprint for r in group], "monitor.html",
               lambda n=name, g=group: sections.monitor_context(n, g), result)
    by_id = {r.run_id: r for r in everything}
    for name, model in saved_models.items():
        linked = [by_id[r].fingerprint for r in models.linked_runs(model) if r in by_id]
        b.page(pages.model_path(name), [model, linked], "model.html",
               lambda n=name, m=model: models.context(n, m, by_id), result)
    for pid, saved in saved_pipelines.items():
        b.page(pages.pipeline_path(pid), pipelines.fingerprint(saved, known),
               "pipeline.html", lambda i=pid, p=saved: pipelines.context(i, p, known), result)
    index = {**sections.index_context(by_exp), "models": models.index_rows(saved_models),
             "pipelines": pipelines.index_rows(saved_pipelines)}
    b.page("index.html", index, "index.html", index, result)


def _run_pages_of(run: RunEntry) -> list[str]:
    paths = [pages.run_path(run.run_id)]
    if run.kind == "audit" and isinstance(run.record.get("audit"), dict):
        paths.append(pages.audit_path(run.run_id))
    return paths


def _stale_runs(b: _Builder, by_exp: dict[str, list[RunEntry]],
                result: BuildResult) -> list[RunEntry]:
    """Runs whose pages must be rendered; the others are counted as skipped."""
    todo = []
    for runs in by_exp.values():
        for run in runs:
            key = b.key(run.fingerprint)
            paths = _run_pages_of(run)
            b.new.update(dict.fromkeys(paths, key))
            if all(b.fresh(p, key) for p in paths):
                result.skipped += len(paths)
            else:
                todo.append(run)
    return todo


def _render_run(b: _Builder, known: set[str],
                run: RunEntry) -> tuple[str, list[str], dict[str, Any]]:
    """Write a run's page(s); may run in a worker process (see parallel.py)."""
    arts = pages.publish_artifacts(run, b.out)
    hist = histories(b.store, run.run_id)
    paths = _run_pages_of(run)
    b.render(paths[0], "run.html", pages.run_context(run, hist, arts, known))
    if len(paths) > 1:
        b.render(paths[1], "audit.html", sections.audit_context(run, arts))
    return run.run_id, paths, pages.small_curves(hist)


def _experiment_page(b: _Builder, name: str, runs: list[RunEntry],
                     fresh_curves: dict[str, dict[str, Any]], result: BuildResult) -> None:
    path = pages.experiment_path(name)
    inputs = [r.fingerprint for r in runs]
    if b.fresh(path, b.key(inputs)):
        b.page(path, inputs, "experiment.html", {}, result)
        return
    cache_file = b.out / STATE / "curves" / f"{safe_name(name)}.json"
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    kept: dict[str, Any] = {}
    for run in runs:
        hit = cache.get(run.run_id)
        if run.run_id in fresh_curves:
            kept[run.run_id] = {"fp": run.fingerprint, "c": fresh_curves[run.run_id]}
        elif hit and hit.get("fp") == run.fingerprint:
            kept[run.run_id] = hit
        else:  # page existed but the cache was lost: read this run's metrics again
            kept[run.run_id] = {"fp": run.fingerprint,
                                "c": pages.small_curves(histories(b.store, run.run_id))}
    write_text(cache_file, json.dumps(kept, separators=(",", ":")))
    curves = pages.fit_budget({rid: v["c"] for rid, v in kept.items()})
    b.page(path, inputs, "experiment.html",
           lambda: pages.experiment_context(name, runs, curves), result)


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
