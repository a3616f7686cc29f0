"""`dii-hpc ui` in real headless Chromium: a run page follows its run without a reload; a
request without the token and a path out of the store are refused.

A run logs (tests/ui/logger.py) while the page is open; the test waits, with deadlines, for
the page's chart, metrics and log to show steps the page did not have when it loaded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dii_hpc.store.blobs import blob_path
from dii_hpc.store.store import Store
from tests.report.cdp import Browser
from tests.ui.conftest import Server, serving

pytestmark = pytest.mark.browser  # skipped without chromium: tests/conftest.py


@pytest.fixture()
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def _fetch(b: Browser, path: str, credentials: str = "same-origin") -> dict[str, Any]:
    """A request made by the page itself: status and body."""
    return b.eval(f"fetch({json.dumps(path)}, {{credentials: {json.dumps(credentials)}}})"
                  ".then(r => r.text().then(t => ({status: r.status, body: t})))")


def _step_js(key: str) -> str:
    """JS: the last step drawn in the live chart of ``key`` (-1 before it is drawn)."""
    return (f"(f => {{ const c = f && f.querySelector('.live-chart'); return c ? +c.dataset.lastStep"
            f" : -1; }})(Array.from(document.querySelectorAll('.charts figure.panel')).find(x =>"
            f" x.querySelector('figcaption').textContent === {json.dumps(key)}))")


def test_a_run_page_follows_its_run_and_strangers_are_refused(
        store_path: Path, logging_run: Any, browser: Browser, tmp_path: Path) -> None:
    run = logging_run("live")
    store_path.mkdir(parents=True, exist_ok=True)
    with serving(store_path) as server:
        _follows_the_run(browser, server, run)
        _refuses_strangers(browser, server, store_path, run.run_id, tmp_path)


def _follows_the_run(b: Browser, server: Server, run: Any) -> None:
    b.open(server.url)  # the printed URL: the token becomes a cookie, the index opens
    assert b.eval("location.search") == "" and b.eval("document.cookie") == ""  # HttpOnly
    b.open(f"http://127.0.0.1:{server.port}/runs/{run.run_id}.html")
    b.eval("window.__sameDocument = true")  # a reload would drop it
    b.until("window.diiLive && window.diiLive.source && window.diiLive.updates > 0", 30)
    b.until(f"{_step_js('loss')} >= 0", 30)
    first = b.eval(_step_js("loss"))
    log_before = b.eval("document.querySelector('details pre.log').textContent.length")
    b.until(f"({_step_js('loss')}) >= {first + 5}", 30)  # new points, drawn in place
    b.until(f"document.querySelector('details pre.log').textContent.length > {log_before}", 30)
    assert b.eval("window.__sameDocument") is True
    assert b.eval("document.querySelector('h1 .status').textContent") == "RUNNING"
    assert b.eval(_step_js("acc")) >= first
    assert b.errors == [], b.errors

    run.stop()  # the run ends: the badge says so and the stream closes
    b.until("document.querySelector('h1 .status').textContent === 'FINISHED'", 30)
    b.until("window.diiLive.ended", 30)
    assert b.eval("window.__sameDocument") is True


def _refuses_strangers(b: Browser, server: Server, root: Path, run_id: str,
                       tmp_path: Path) -> None:
    page = f"/runs/{run_id}.html"
    assert _fetch(b, page)["status"] == 200
    stranger = _fetch(b, page, credentials="omit")  # no cookie, no token: a neighbour
    assert stranger["status"] == 403 and "token" in stranger["body"]
    assert _fetch(b, f"/api/runs/{run_id}", credentials="omit")["status"] == 403

    secret = tmp_path / "secret.txt"
    secret.write_text("not yours\n")
    store = Store(root)
    (Path(store.run_dir(run_id)) / "logs" / "key.txt").symlink_to(secret)  # a link out of the store
    fake = "ab" * 32
    blob = blob_path(root, fake)
    blob.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(secret, blob)
    for path in (f"/api/runs/{run_id}/logs/key.txt", f"/files/{fake}/secret.txt",
                 "/static/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd"):
        got = _fetch(b, path)
        assert got["status"] == 403 and "not yours" not in got["body"] \
            and "root:" not in got["body"], (path, got)
    b.open(f"http://127.0.0.1:{server.port}/static/..%2f..%2f..%2f..%2fetc%2fpasswd")
    assert "refused" in b.eval("document.body.textContent")
