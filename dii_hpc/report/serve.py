"""One file of the site, rendered on demand from the store (what `dii-hpc ui` serves).

`render(store, path)` answers every path a build writes: ``index.html``,
``experiments/<x>.html`` and its data files (``data/<x>/runs-<k>.js``, ``hist-<k>.js``,
``full/<run>.js``), ``runs/<id>.html``, ``audits/<id>.html``, ``monitors/``, ``models/`` and
``pipelines/`` pages.  It goes through the same `Site` methods as `report build` (site.py), so a
served page is what a build writes, with two differences a server needs: every run has a page
(``run_pages=None``), and artifacts are not copied (the server hands out
``files/<sha256>/<name>`` from the blob itself).  ``static/`` is the server's as well.

Only what a path needs is read: a run page reads its run (and its parent run, for the link),
an experiment's files read that experiment.  An experiment page and the data files its script
loads right after come as a burst of requests, so a loaded experiment is kept for
``KEEP_S`` seconds (a 100,000-run experiment takes seconds to read; a page opened later sees
the store as it is then).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from dii_hpc.report import data, pages
from dii_hpc.report.display import safe_name
from dii_hpc.report.groups import members
from dii_hpc.report.site import Site, artifacts
from dii_hpc.report.source import RunEntry, StoreReader, load_run

HTML = "text/html; charset=utf-8"
JS = "text/javascript; charset=utf-8"
KEEP_S = 10.0
_PAGE = re.compile(r"^(runs|hist)-(\d+)\.js$")
_kept: dict[tuple[str, str], tuple[float, Site]] = {}
_lock = threading.Lock()

Found = tuple[bytes, str] | None


def render(store: StoreReader, path: str) -> Found:
    """``(body, media type)`` of the site file at ``path`` (relative, as in the static site),
    or None when the store has no such page."""
    parts = path.strip("/").split("/") if path.strip("/") else ["index.html"]
    if any(p in ("", ".", "..") for p in parts):
        return None
    head, last = parts[0], parts[-1]
    if len(parts) == 1:
        return _index(store) if head == "index.html" else None
    if head == "data":
        return _data(store, parts[1], parts[2:])
    if len(parts) != 2 or not last.endswith(".html"):
        return None
    stem = last[: -len(".html")]
    handler = _HANDLERS.get(head)
    return handler(store, stem) if handler else None


# ------------------------------------------------------------------------ loading
def _experiment_named(store: StoreReader, stem: str) -> str | None:
    """The experiment whose file name (display.safe_name) is ``stem``."""
    return next((name for name in store.experiments() if safe_name(name) == stem), None)


def _experiment_site(store: StoreReader, name: str) -> Site:
    """A Site with every run of ``name`` (kept KEEP_S seconds, see the module docstring)."""
    key = (str(store.root), name)
    now = time.monotonic()
    with _lock:
        got = _kept.get(key)
        if got and now - got[0] < KEEP_S:
            return got[1]
    site = Site(store, run_pages=None)
    site.load([name])
    with _lock:
        for old in [k for k, (t, _) in _kept.items() if now - t >= KEEP_S]:
            del _kept[old]
        _kept[key] = (now, site)
    return site


def _entry(store: StoreReader, run_id: str) -> RunEntry | None:
    from dii_hpc.errors import DiiError

    try:
        return load_run(store, run_id)
    except (DiiError, OSError, ValueError):
        return None


def _run_site(store: StoreReader, run_ids: list[str]) -> Site:
    """A Site holding only the named runs that exist (every one of them with a page)."""
    site = Site(store, run_pages=None)
    by_exp: dict[str, list[RunEntry]] = {}
    for rid in run_ids:
        entry = _entry(store, rid)
        if entry is not None:
            by_exp.setdefault(str(entry.record.get("experiment") or ""), []).append(entry)
    for name, runs in by_exp.items():
        site.add(name, runs)
    return site


def _everything(store: StoreReader) -> Site:
    site = Site(store, run_pages=None)
    site.load(store.experiments())
    return site


# ------------------------------------------------------------------------ pages
def _html(text: str) -> Found:
    return text.encode(), HTML


def _index(store: StoreReader) -> Found:
    from dii_hpc.report import models, pipelines

    site = _everything(store)
    return _html(site.index_page(site.index_context(models.load(store),
                                                    pipelines.load(store.root))))


def _run(store: StoreReader, run_id: str) -> Found:
    run = _entry(store, run_id)
    if run is None or pages.run_path(run.run_id) != pages.run_path(run_id):
        return None
    parent = run.record.get("parent_run")
    site = _run_site(store, [run_id] + ([parent] if isinstance(parent, str) else []))
    return _html(site.run_page(run, site.histories(run), artifacts(run, None)))


def _audit(store: StoreReader, run_id: str) -> Found:
    from dii_hpc.report import certified

    site = _run_site(store, [run_id])
    run = site.entry(run_id)
    if run is None or pages.audit_path(run_id) not in site.run_files(run):
        return None
    if certified.is_certification(run.record):  # evasion audits of its experiment beside it
        site = Site(store, run_pages=None)
        site.load([str(run.record.get("experiment") or "")])
        run = site.entry(run_id) or run
    return _html(site.audit_page(run, artifacts(run, None)))


def _experiment(store: StoreReader, stem: str) -> Found:
    name = _experiment_named(store, stem)
    if name is None:
        return None
    site = _experiment_site(store, name)
    lay = site.layouts[name]
    grouped = members(lay.runs, lay.primary)
    curves, _ = site.curves([r for r in lay.runs if r.run_id in grouped])
    return _html(site.experiment_page(name, curves))


def _monitor(store: StoreReader, stem: str) -> Found:
    from dii_hpc.report import sections

    site = _everything(store)
    found = {safe_name(n): (n, g) for n, g in sections.monitors(site.everything()).items()}
    if stem not in found:
        return None
    return _html(site.monitor_page(*found[stem]))


def _model(store: StoreReader, stem: str) -> Found:
    from dii_hpc.report import models

    saved = {safe_name(n): (n, m) for n, m in models.load(store).items()}
    if stem not in saved:
        return None
    name, model = saved[stem]
    site = _run_site(store, list(dict.fromkeys(models.linked_runs(model))))
    return _html(site.model_page(name, model))


def _pipeline(store: StoreReader, stem: str) -> Found:
    from dii_hpc.report import pipelines

    saved = {safe_name(p): (p, s) for p, s in pipelines.load(store.root).items()}
    if stem not in saved:
        return None
    pid, pipeline = saved[stem]
    _record, stages = pipeline
    runs = [r for rec in stages.values() for r in rec.runs]
    site = _run_site(store, list(dict.fromkeys(runs)))
    return _html(site.pipeline_page(pid, pipeline))


_HANDLERS: dict[str, Callable[[StoreReader, str], Found]] = {
    "runs": _run, "audits": _audit, "experiments": _experiment, "monitors": _monitor,
    "models": _model, "pipelines": _pipeline,
}


# ------------------------------------------------------------------------ data files
def _data(store: StoreReader, stem: str, rest: list[str]) -> Found:
    """``data/<experiment>/runs-<k>.js``, ``hist-<k>.js`` or ``full/<run>.js``."""
    name = _experiment_named(store, stem)
    if name is None or not rest:
        return None
    site = _experiment_site(store, name)
    lay = site.layouts[name]
    if len(rest) == 2 and rest[0] == "full" and rest[1].endswith(".js"):
        wanted = f"{data.folder(name)}/full/{rest[1]}"
        run = next((r for r in lay.runs if data.full_path(name, r.run_id) == wanted), None)
        return None if run is None else (site.full_js(run, site.histories(run)).encode(), JS)
    match = _PAGE.match(rest[0]) if len(rest) == 1 else None
    if match is None or int(match.group(2)) >= len(lay.pages):
        return None
    k = int(match.group(2))
    if match.group(1) == "runs":
        return site.rows_js(name, k).encode(), JS
    curves, longer = site.curves(lay.pages[k])
    return site.hist_js(name, k, curves, longer).encode(), JS
