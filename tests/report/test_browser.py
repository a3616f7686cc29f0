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
    return b.eval("Array.from(document.querySelectorAll('#runs tbody tr'))"
                  ".filter(r => !r.hidden).map(r => r.dataset.id)")


def _column(b: Browser, header: str) -> list[float | None]:
    js = f"""(() => {{
      const heads = Array.from(document.querySelectorAll('#runs thead th')).map(t => t.textContent.trim());
      const col = heads.indexOf({header!r});
      return Array.from(document.querySelectorAll('#runs tbody tr')).filter(r => !r.hidden)
        .map(r => {{ const c = r.cells[col], s = c.dataset.v ?? c.textContent.trim();
                     const v = s === "" ? NaN : Number(s); return isFinite(v) ? v : null; }});
    }})()"""
    return b.eval(js)


def _click_header(b: Browser, header: str) -> None:
    b.eval(f"Array.from(document.querySelectorAll('#runs thead th'))"
           f".find(t => t.textContent.trim() === {header!r}).click()")


def _filter(b: Browser, text: str) -> None:
    b.eval(f"(() => {{ const i = document.getElementById('filter'); i.value = {text!r};"
           "i.dispatchEvent(new Event('input')); })()")
    b.eval("new Promise(r => setTimeout(r, 200))")


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
    b.open((out / experiment_path("digits")).as_uri())
    assert len(_visible_ids(b)) == 10
    assert b.eval("document.querySelectorAll('#curves path.line').length") >= 1
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
    b.eval(f"(() => {{ const c = document.querySelector({pick!r});"
           "c.checked = !c.checked; c.dispatchEvent(new Event('change')); })()")
    assert b.eval("document.querySelectorAll('#curves path.line').length") != before
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
    b.open((out / experiment_path("seeds")).as_uri())
    b.pump(0.3)
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
    b.eval("(() => { const c = document.getElementById('show-archived'); c.checked = true;"
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
