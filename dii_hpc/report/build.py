"""Build the static site: scan the store, re-render pages whose inputs changed, copy static files.

Incremental rebuild: every page has an input hash (its runs' fingerprints plus the templates'
fingerprint); ``.dii-report/manifest.json`` in the output keeps the hash each page was built
from, so an unchanged store costs one pass over run.json files and no rendering.
Downsampled curves of every run are cached per experiment, so adding one run to a 1,000-run
experiment reads one run's metrics, not a thousand.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dii_hpc.report import pages, resources, sections
from dii_hpc.report.model import safe_name
from dii_hpc.report.progress import Progress
from dii_hpc.report.render import make_env, write_text
from dii_hpc.report.source import RunEntry, digest, experiments, histories, load_experiment

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

    @property
    def index(self) -> Path:
        return self.out / "index.html"


class _Builder:
    def __init__(self, store: Any, out: Path, force: bool, progress: bool | None) -> None:
        self.store, self.out, self.force, self.progress_flag = store, out, force, progress
        self.env = make_env()
        self.tfp = resources.fingerprint()
        self.old = {} if force else _load_manifest(out, self.tfp)
        self.new: dict[str, str] = {}
        self.hist: dict[str, dict[str, tuple[list, list]]] = {}
        self.progress: Progress | None = None

    # one page: skip when its input hash is unchanged and the file is still there
    def page(self, path: str, inputs: Any, template: str, context: Any, result: BuildResult) -> None:
        key = digest([self.tfp, inputs])
        self.new[path] = key
        if self.old.get(path) == key and (self.out / path).is_file():
            result.skipped += 1
            return
        ctx = context() if callable(context) else context
        depth = path.count("/")
        html = self.env.get_template(template).render(root="../" * depth, page=path,
                                                      **pages.PATHS, **ctx)
        write_text(self.out / path, html)
        result.rendered += 1
        result.pages.append(path)
        if self.progress:
            self.progress.update()

    def stale(self, path: str, inputs: Any) -> bool:
        return self.old.get(path) != digest([self.tfp, inputs]) or not (self.out / path).is_file()

    def run_histories(self, run: RunEntry) -> dict[str, tuple[list, list]]:
        if run.run_id not in self.hist:
            self.hist[run.run_id] = histories(self.store, run.run_id)
        return self.hist[run.run_id]


def _load_manifest(out: Path, tfp: str) -> dict[str, str]:
    try:
        data = json.loads((out / STATE / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    if data.get("format") != FORMAT or data.get("templates") != tfp:
        return {}
    return dict(data.get("pages") or {})


def _copy_static(out: Path) -> None:
    src = resources.static_dir()
    for path in src.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            dest = out / "static" / path.relative_to(src)
            if not dest.is_file() or dest.read_bytes() != path.read_bytes():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)


def build_site(store: Any, out: str | Path | None = None, experiment: list[str] | None = None,
               force: bool = False, progress: bool | None = None) -> BuildResult:
    """Render ``store`` into ``out`` (default ``<store>/site``); see the module docstring."""
    t0 = time.perf_counter()
    out_dir = Path(out) if out else Path(store.root) / "site"
    out_dir.mkdir(parents=True, exist_ok=True)
    result = BuildResult(out_dir.resolve())
    b = _Builder(store, out_dir, force, progress)
    _copy_static(out_dir)
    by_exp = {name: load_experiment(store, name) for name in experiments(store, experiment)}
    result.runs = sum(len(v) for v in by_exp.values())
    _plan_progress(b, by_exp)
    known = {r.run_id for runs in by_exp.values() for r in runs}
    for name, runs in by_exp.items():
        for run in runs:
            _run_pages(b, run, known, result)
        _experiment_page(b, name, runs, result)
    everything = [r for runs in by_exp.values() for r in runs]
    for name, group in sections.monitors(everything).items():
        b.page(pages.monitor_path(name), [r.fingerprint for r in group], "monitor.html",
               lambda n=name, g=group: sections.monitor_context(n, g), result)
    b.page("index.html", sections.index_context(by_exp), "index.html",
           lambda: sections.index_context(by_exp), result)
    if not experiment:
        result.removed = _remove_stale(out_dir, b.old, b.new)
    _save_manifest(out_dir, b, experiment)
    if b.progress:
        b.progress.close()
    result.seconds = time.perf_counter() - t0
    return result


def _plan_progress(b: _Builder, by_exp: dict[str, list[RunEntry]]) -> None:
    todo = sum(b.stale(pages.run_path(r.run_id), r.fingerprint)
               for runs in by_exp.values() for r in runs)
    b.progress = Progress(todo + len(by_exp) + 1, enabled=b.progress_flag)


def _run_pages(b: _Builder, run: RunEntry, known: set[str], result: BuildResult) -> None:
    path = pages.run_path(run.run_id)
    audit = run.kind == "audit" and isinstance(run.record.get("audit"), dict)
    if not (b.stale(path, run.fingerprint)
            or (audit and b.stale(pages.audit_path(run.run_id), run.fingerprint))):
        b.new[path] = b.old[path]
        if audit:
            b.new[pages.audit_path(run.run_id)] = b.old[pages.audit_path(run.run_id)]
        result.skipped += 1 + audit
        return
    arts = pages.publish_artifacts(run, b.out)
    b.page(path, run.fingerprint, "run.html",
           lambda: pages.run_context(run, b.run_histories(run), arts, known), result)
    if audit:
        b.page(pages.audit_path(run.run_id), run.fingerprint, "audit.html",
               lambda: sections.audit_context(run, arts), result)


def _experiment_page(b: _Builder, name: str, runs: list[RunEntry], result: BuildResult) -> None:
    path = pages.experiment_path(name)
    inputs = [r.fingerprint for r in runs]
    if not b.stale(path, inputs):
        b.page(path, inputs, "experiment.html", {}, result)
        return
    cache_file = b.out / STATE / "curves" / f"{safe_name(name)}.json"
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    fresh: dict[str, Any] = {}
    for run in runs:
        hit = cache.get(run.run_id)
        if hit and hit.get("fp") == run.fingerprint:
            fresh[run.run_id] = hit
        else:
            fresh[run.run_id] = {"fp": run.fingerprint,
                                 "c": pages.small_curves(b.run_histories(run))}
    write_text(cache_file, json.dumps(fresh, separators=(",", ":")))
    curves = {rid: v["c"] for rid, v in fresh.items()}
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

    pages_map = {**b.old, **b.new} if experiment else b.new
    write_json(out / STATE / "manifest.json",
               {"format": FORMAT, "templates": b.tfp, "pages": pages_map})
