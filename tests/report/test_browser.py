"""The built site in headless Chromium: no console errors, no network, sorting and filtering.

Screenshots land in the test's tmp folder (printed with -s / shown on failure).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from dii_hpc.report import build_site
from dii_hpc.report.pages import audit_path, experiment_path, monitor_path, run_path
from dii_hpc.store.store import Store
from tests.report.cdp import Browser

pytestmark = pytest.mark.browser  # skipped without chromium: tests/conftest.py

# Any alert() / dialog means injected markup ran; record it instead of blocking the page.
TRAP = "window.__alerts = []; window.alert = function (m) { window.__alerts.push(String(m)); };"


@pytest.fixture(scope="module")
def browser_site(demo, tmp_path_factory):
    store_dir, ids = demo
    out = tmp_path_factory.mktemp("browser-site")
    build_site(Store(store_dir), out=out, progress=False)
    shots = tmp_path_factory.mktemp("screenshots")
    browser = Browser(tmp_path_factory.mktemp("chromium-profile"))
    browser.call("Page.addScriptToEvaluateOnNewDocument", source=TRAP)
    yield out, ids, browser, shots
    browser.close()
    print(f"\nscreenshots: {shots}")


def _visible_ids(b: Browser) -> list[str]:
    """Ids of the rows drawn (the virtual table draws those on screen: the tests' few runs)."""
    return b.eval("Array.from(document.querySelectorAll('#runs tbody tr[data-id]'))"
                  ".filter(r => !r.hidden).map(r => r.dataset.id)")


def _open_experiment(b: Browser, path: Path) -> None:
    """Open an experiment page and wait until every page of runs is in and drawn."""
    b.open(path.as_uri())
    b.until("document.body.dataset.ready === '1' && document.body.dataset.loaded === '1'")


def _new_view(b: Browser, action: str) -> None:
    """Run ``action`` (JS) and wait for the table's next view (sort and filter are async)."""
    before = b.eval("+document.querySelector('#runs tbody').dataset.view || 0")
    b.eval(action)
    b.until(f"(+document.querySelector('#runs tbody').dataset.view || 0) > {before}")


def _column(b: Browser, header: str) -> list[float | None]:
    js = f"""(() => {{
      const heads = Array.from(document.querySelectorAll('#runs thead th')).map(t => t.textContent.trim());
      const col = heads.indexOf({header!r});
      return Array.from(document.querySelectorAll('#runs tbody tr[data-id]')).filter(r => !r.hidden)
        .map(r => {{ const c = r.cells[col], s = c.dataset.v ?? c.textContent.trim();
                     const v = s === "" ? NaN : Number(s); return isFinite(v) ? v : null; }});
    }})()"""
    return b.eval(js)


def _click_header(b: Browser, header: str) -> None:
    _new_view(b, f"Array.from(document.querySelectorAll('#runs thead th'))"
                 f".find(t => t.textContent.trim() === {header!r}).click()")


def _filter(b: Browser, text: str) -> None:
    _new_view(b, f"(() => {{ const i = document.getElementById('filter'); i.value = {text!r};"
                 "i.dispatchEvent(new Event('input')); })()")


def test_pages_load_clean(browser_site) -> None:
    out, ids, b, shots = browser_site
    pages = {"index": "index.html", "experiment": experiment_path("digits"),
             "run": run_path(ids["train0"]), "evil-run": run_path(ids["evil"]),
             "audit": audit_path(ids["audit"]), "monitor": monitor_path("nightly"),
             "inference": run_path(ids["inference"])}
    for name, rel in pages.items():
        b.errors.clear()
        b.requests.clear()
        b.open((out / rel).as_uri())
        b.pump(0.3)
        b.screenshot(shots / f"{name}.png")
        assert b.errors == [], f"{rel}: {b.errors}"
        assert b.eval("window.__alerts") == [], rel
        outside = [u for u in b.requests if not u.startswith(("file://", "data:", "about:"))]
        assert outside == [], f"{rel} requested {outside}"
        broken = b.eval("Promise.all(Array.from(document.images).map(i => {"  # lazy -> eager
                        "i.loading = 'eager'; return i.decode().then(() => null, () => i.src); }))")
        assert [u for u in broken if u] == [], rel
    b.open((out / run_path(ids["evil"])).as_uri())
    assert "<script>alert(1)</script>" in b.eval("document.querySelector('h1').textContent")


def test_run_table_sorts_filters_and_draws(browser_site) -> None:
    out, ids, b, shots = browser_site
    b.errors.clear()
    _open_experiment(b, out / experiment_path("digits"))
    assert len(_visible_ids(b)) == 10
    assert b.until("document.querySelectorAll('#curves path.line').length >= 1")
    assert b.eval("document.querySelectorAll('#scatter circle').length") >= 6

    _click_header(b, "lr")
    values = [v for v in _column(b, "lr") if v is not None]
    assert values == sorted(values) and len(values) == 8
    assert _column(b, "lr")[-1] is None                 # blanks last
    _click_header(b, "lr")
    values = [v for v in _column(b, "lr") if v is not None]
    assert values == sorted(values, reverse=True)
    _click_header(b, "val_acc (best)")
    best = _column(b, "val_acc (best)")
    top = max(i for i, v in enumerate(best) if v is not None)
    assert _visible_ids(b)[top] == ids["train0"]        # highest best val_acc, blanks after
    assert all(v is None for v in best[top + 1:])

    _filter(b, "optimizer=adam")
    adam = _visible_ids(b)
    assert len(adam) == 4 and ids["train1"] in adam
    assert b.eval("document.getElementById('shown').textContent") == "4 of 10 runs shown"
    _filter(b, "lr>0.02 status=finished")
    assert sorted(_visible_ids(b)) == sorted([ids["train0"], ids["train1"], ids["train5"],
                                              ids["evil"]])
    _filter(b, "alert(1)")
    assert sorted(_visible_ids(b)) == sorted([ids["evil"], ids["evil_param"]])
    b.screenshot(shots / "experiment-filtered.png")
    _filter(b, "")
    assert len(_visible_ids(b)) == 10

    before = b.eval("document.querySelectorAll('#curves path.line').length")
    pick = f'input.pick[value="{ids["train3"]}"]'
    b.eval(f"document.querySelector({pick!r}).click()")  # toggles it, as a user does
    assert b.until(f"document.querySelectorAll('#curves path.line').length !== {before}")
    b.eval("(() => { const s = document.getElementById('scatter-param'); s.value = 'optimizer';"
           "s.dispatchEvent(new Event('change')); })()")
    assert b.eval("document.querySelectorAll('#scatter circle').length") >= 6
    b.screenshot(shots / "experiment-sorted.png")
    assert b.errors == []
    assert b.eval("document.getElementById('scatter-param').value") == "optimizer"
    # links drawn by the scripts (scatter points) resolve too
    hrefs = b.eval("Array.from(document.querySelectorAll('#scatter a'))"
                   ".map(a => new URL(a.getAttribute('href'), location.href).href)")
    assert hrefs and all(Path(unquote(urlsplit(h).path)).is_file() for h in hrefs), hrefs[:3]


@pytest.fixture(scope="module")
def seeds_site(browser_site, tmp_path_factory):
    from tests.report.seeds import build_seed_store

    root = tmp_path_factory.mktemp("seed-store") / "store"
    ids = build_seed_store(root)
    out = tmp_path_factory.mktemp("seed-site")
    build_site(Store(root), out=out, progress=False)
    return out, ids, browser_site[2], browser_site[3]


def test_seed_bands_parallel_coordinates_and_archived_runs(seeds_site) -> None:
    out, ids, b, shots = seeds_site
    b.errors.clear()
    b.requests.clear()
    _open_experiment(b, out / experiment_path("seeds"))
    assert b.errors == []
    assert [u for u in b.requests if not u.startswith(("file://", "data:", "about:"))] == []
    # seed groups: one band and one mean line per group, on the primary metric
    assert b.eval("document.getElementById('band-metric').value") == "acc"
    assert b.eval("document.querySelectorAll('#bands path.band').length") == 2
    assert b.eval("document.querySelectorAll('#bands path.line.mean').length") == 2
    band_box = b.eval("(() => { const r = document.querySelector('#bands path.band')"
                      ".getBoundingClientRect(); return [r.width, r.height]; })()")
    assert band_box[0] > 300 and band_box[1] > 2  # a real area, not a line
    # parallel coordinates: params that vary (lr, optimizer, seed) + the metric, one line a run
    axes = b.eval("Array.from(document.querySelectorAll('#parcoords text.label'))"
                  ".map(t => t.textContent)")
    assert axes == ["lr", "optimizer", "seed", "acc"]
    assert b.eval("document.querySelectorAll('#parcoords path.pcline').length") == 6
    assert b.eval("document.querySelectorAll('#parcoords path.bestline').length") == 1
    b.screenshot(shots / "seed-groups.png")
    # archived: hidden in the table and the charts until asked for
    assert len(_visible_ids(b)) == 6 and ids["archived"] not in _visible_ids(b)
    assert "(1 archived hidden)" in b.eval("document.getElementById('shown').textContent")
    _new_view(b, "(() => { const c = document.getElementById('show-archived'); c.checked = true;"
                 "c.dispatchEvent(new Event('change')); })()")
    assert ids["archived"] in _visible_ids(b)
    assert b.eval("document.querySelectorAll('#parcoords path.pcline').length") == 7
    axes = b.eval("Array.from(document.querySelectorAll('#parcoords text.label'))"
                  ".map(t => t.textContent)")
    assert axes == ["depth", "lr (log)", "optimizer", "seed", "acc"]  # lr now spans 2 decades
    b.eval("(() => { const s = document.getElementById('pc-metric'); s.value = 'loss';"
           "s.dispatchEvent(new Event('change')); })()")
    assert b.eval("Array.from(document.querySelectorAll('#parcoords text.label'))"
                  ".map(t => t.textContent).pop()").startswith("loss")
    b.screenshot(shots / "parallel-coordinates-archived.png")
    assert b.errors == []
    b.open((out / run_path(ids["groups"][0.1][0])).as_uri())
    assert "baseline <b>for the paper</b>" in b.eval("document.querySelector('p.note').textContent")


@pytest.fixture(scope="module")
def paged_site(browser_site, demo, tmp_path_factory):
    """The demo store built in pages of 3 runs, with pages of their own for only 4 runs: what a
    100,000-run experiment looks like, at the scale of a test."""
    from dii_hpc.report import data

    out = tmp_path_factory.mktemp("paged-site")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(data, "PAGE_ROWS", 3)
        build_site(Store(demo[0]), out=out, progress=False, run_pages=4)
    return out, demo[1], browser_site[2], browser_site[3]


def test_paged_experiment_page_sorts_filters_and_shows_runs(paged_site) -> None:
    out, ids, b, shots = paged_site
    folder = out / "data" / "digits"
    assert sorted(p.name for p in folder.glob("runs-*.js")) == [f"runs-{k}.js" for k in range(4)]
    b.errors.clear()
    b.requests.clear()
    _open_experiment(b, out / experiment_path("digits"))
    loaded = {u.rsplit("/", 1)[-1] for u in b.requests if "/data/digits/" in u}
    assert {f"runs-{k}.js" for k in range(4)} <= loaded
    assert len(_visible_ids(b)) == 10
    # sort over every page: lr ascending, blanks last; then descending
    _click_header(b, "lr")
    values = _column(b, "lr")
    assert values[:8] == sorted(values[:8]) and values[8:] == [None, None]
    _click_header(b, "lr")
    assert _column(b, "lr")[:8] == sorted(values[:8], reverse=True)
    _filter(b, "optimizer=adam and lr<0.05")
    assert sorted(_visible_ids(b)) == sorted([ids["train1"], ids["train3"], ids["evil_param"]])
    assert b.eval("document.getElementById('shown').textContent") == "3 of 10 runs shown"
    _filter(b, "lr >")
    assert b.eval("document.getElementById('filter-error').hidden") is False
    _filter(b, "")
    # a run without a page of its own opens in the page: its params and its curves
    hrefs = b.eval("Object.fromEntries(Array.from(document.querySelectorAll('#runs tbody"
                   " tr[data-id]')).map(r => [r.dataset.id, r.cells[1].querySelector('a')"
                   ".getAttribute('href')]))")
    inline = [rid for rid, h in hrefs.items() if h.startswith("#run=")]
    assert 0 < len(inline) <= 10 - 4  # the 4 newest have a page, the best and audits too
    assert ids["audit"] not in inline and ids["train0"] not in inline  # train0: the best run
    target = inline[0]
    b.eval(f"document.querySelector('#runs tr[data-id=\"{target}\"] td a').click()")
    b.until("document.querySelectorAll('#run-panel figure.panel path.line').length >= 3")
    panel = b.eval("document.getElementById('run-panel').textContent")
    assert target in panel and "lr" in panel
    b.screenshot(shots / "experiment-paged-run.png")
    assert b.errors == []
    assert [u for u in b.requests if not u.startswith(("file://", "data:", "about:"))] == []
