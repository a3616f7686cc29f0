"""The report site built from a real store: pages, links, escaping, incremental rebuilds."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from dii_hpc.errors import NotFound
from dii_hpc.report import build_site
from dii_hpc.report.data import HAS_PAGE, decode_curve
from dii_hpc.report.pages import audit_path, experiment_path, monitor_path, run_path
from dii_hpc.store.store import Store
from tests.report.conftest import EVIL, experiment_data


@pytest.fixture(scope="module")
def site(demo, tmp_path_factory) -> Path:
    store_dir, _ = demo
    out = tmp_path_factory.mktemp("site")
    build_site(Store(store_dir), out=out, progress=False)
    return out


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action", "poster", "srcset") and value is not None:
                self.refs.append(value)
            if name == "id" and value:
                self.ids.add(value)


def html_pages(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.html") if ".dii-report" not in p.parts)


def test_every_page_is_built(site: Path, demo) -> None:
    _, ids = demo
    expected = ["index.html", experiment_path("digits"), experiment_path("monitoring"),
                audit_path(ids["audit"]), monitor_path("nightly")]
    expected += [run_path(rid) for rid in ids.values()]
    for rel in expected:
        assert (site / rel).is_file(), rel
    assert (site / "static" / "app.js").is_file() and (site / "static" / "style.css").is_file()
    index = (site / "index.html").read_text()
    assert "FAILED 1" in index and "evasion-standard" in index and ">C</span>" in index
    assert "nightly" in index and "drift</span>" in index


def test_pages_show_saved_results(site: Path, demo) -> None:
    _, ids = demo
    run = (site / run_path(ids["train0"])).read_text()
    assert "4242_0" in run and "node01" in run and "200.5" in run   # Slurm accounting
    assert "abc123" in run                              # manifest
    assert "epoch 299 loss" in run and "epoch 0 loss" not in run   # log tail only
    assert run.count('<svg class="chart"') == 3         # loss, acc, val_acc
    failed = (site / run_path(ids["failed"])).read_text()
    assert "diverged at step 1" in failed and "FAILED" in failed
    audit = (site / audit_path(ids["audit"])).read_text()
    assert "[0.36, 0.46]" in audit and "AUC 0.83" in audit and "eps_monotonic" in audit
    assert "0.55<br><span class=\"muted\">[0.51, 0.59]" in audit  # value beside interval
    assert "[0.11, 0.22]" not in audit  # an interval without its value is not shown alone
    assert audit.count("<img ") == 3 and "evasion-standard" in audit
    assert "Robustness curve" in audit and "Backdoor success by poisoned fraction" in audit
    assert audit.count('<svg class="chart"') == 3 and "attack_success_rate" in audit
    monitor = (site / monitor_path("nightly")).read_text()
    assert monitor.count("pixel_") >= 4 and "share_drifted &gt; 0.5" in monitor
    inference = (site / run_path(ids["inference"])).read_text()
    assert "latency_ms" in inference and "9.8" in inference
    data, rows, curves = experiment_data(site, "digits")
    assert len(rows) == data["total"] == 10
    assert data["primary"] == "val_acc" and data["scatter"] == "lr"
    assert all(r["flags"] & HAS_PAGE for r in rows)       # a small experiment: every run a page
    assert data["best"] == ids["train0"]                # highest lr converges best
    at = [r["id"] for r in rows].index(ids["train0"])
    assert set(curves[at]) == {"loss", "acc", "val_acc"}
    steps, values = decode_curve(curves[at]["loss"])
    assert steps == list(range(30)) and abs(values[-1] - 2.0 / (1 + 29 * 0.1 * 10)) < 1e-3
    assert ("job 4242_0 · 1 node · 4 cpu · 1 gpu · 812 MB RSS · 1m 01s · waited 3.0 s · debug"
            in [r["resources"] for r in rows])


def test_internal_links_resolve_and_nothing_external(site: Path) -> None:
    for page in html_pages(site):
        text = page.read_text()
        parser = _Refs()
        parser.feed(text)
        for ref in parser.refs:
            parts = urlsplit(ref)
            assert not parts.scheme and not parts.netloc, f"{page.name}: external {ref}"
            if parts.path:
                target = (page.parent / unquote(parts.path)).resolve()
                assert target.is_file(), f"{page.relative_to(site)}: broken link {ref}"
            if parts.fragment and not parts.path:
                assert parts.fragment in parser.ids
        assert not re.search(r"https?:|//[a-z]", text.replace("\\u002f", "")), page.name
    css = (site / "static" / "style.css").read_text()
    assert "http" not in css and "url(" not in css and "@import" not in css
    js = (site / "static" / "app.js").read_text()
    assert set(re.findall(r"https?://[^\s\"']+", js)) == {"http://www.w3.org/2000/svg"}
    assert "fetch(" not in js and "XMLHttpRequest" not in js


def test_user_strings_are_escaped(site: Path, demo) -> None:
    _, ids = demo
    for page in html_pages(site):
        text = page.read_text()
        assert EVIL not in text, page.name
        assert "</script><" not in text.replace("</script>\n", "")
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert escaped in (site / run_path(ids["evil"])).read_text()
    assert escaped in (site / run_path(ids["evil_param"])).read_text()
    assert escaped in (site / audit_path(ids["audit"])).read_text()
    rows = (site / "data" / "digits" / "runs-0.js").read_text()  # JSON in a script
    assert EVIL not in rows and "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in rows


def test_artifacts_are_copied_by_content(site: Path, demo) -> None:
    store_dir, ids = demo
    store = Store(store_dir)
    meta = store.artifacts(ids["train1"])["sample.png"]
    copy = site / "files" / meta["sha256"] / "sample.png"
    assert copy.read_bytes() == Path(meta["path"]).read_bytes()
    assert f'href="../files/{meta["sha256"]}/sample.png"' in (site / run_path(ids["train1"])).read_text()


def test_rebuild_renders_only_changed_pages(demo, tmp_path: Path) -> None:
    import dii_hpc

    store_dir = tmp_path / "store"
    shutil.copytree(demo[0], store_dir)
    out = tmp_path / "site"
    first = build_site(Store(store_dir), out=out, progress=False)
    assert first.rendered == len(html_pages(out)) + len(list(out.glob("data/*/*.js")))
    again = build_site(Store(store_dir), out=out, progress=False)
    assert again.rendered == 0 and again.skipped == first.rendered
    with dii_hpc.start_run("digits", params={"lr": 0.2}, store=Store(store_dir)) as run:
        run.log_metric("val_acc", 0.99, step=0)
    third = build_site(Store(store_dir), out=out, progress=False)
    assert sorted(third.pages) == sorted(["index.html", experiment_path("digits"),
                                          run_path(run.id), "data/digits/runs-0.js",
                                          "data/digits/hist-0.js"])
    (out / run_path(run.id)).unlink()                   # a deleted page is rebuilt
    assert build_site(Store(store_dir), out=out, progress=False).pages == [run_path(run.id)]
    Store(store_dir).delete_run(run.id)                  # a deleted run's page goes away
    fourth = build_site(Store(store_dir), out=out, progress=False)
    assert fourth.removed == 1 and not (out / run_path(run.id)).exists()
    with dii_hpc.start_run("digits", store=Store(store_dir)) as run:
        pass
    Store(store_dir).delete_run(run.id)                  # gone before any build saw it: no-op
    build_site(Store(store_dir), out=out, progress=False)
    with dii_hpc.start_run("digits", store=Store(store_dir)) as run:
        pass
    build_site(Store(store_dir), out=out, progress=False)
    Store(store_dir).delete_run(run.id)                  # --force also clears deleted runs
    forced = build_site(Store(store_dir), out=out, force=True, progress=False)
    assert forced.rendered == first.rendered and forced.removed == 1


def test_experiment_selection(demo, tmp_path: Path) -> None:
    result = build_site(Store(demo[0]), out=tmp_path, experiment=["monitoring"], progress=False)
    assert (tmp_path / experiment_path("monitoring")).is_file()
    assert not (tmp_path / experiment_path("digits")).exists()
    assert result.runs == 4
    with pytest.raises(NotFound, match="did you mean digits"):
        build_site(Store(demo[0]), out=tmp_path, experiment=["digit"], progress=False)


def test_empty_store_builds_an_index(tmp_path: Path) -> None:
    result = build_site(Store(tmp_path / "nothing"), out=tmp_path / "out", progress=False)
    assert "no experiments yet" in result.index.read_text()


def test_forked_workers_write_the_same_site(demo, tmp_path: Path, monkeypatch) -> None:
    from dii_hpc.report import parallel

    serial = build_site(Store(demo[0]), out=tmp_path / "a", workers=1, progress=False)
    monkeypatch.setattr(parallel, "MIN_PARALLEL", 1)
    forked = build_site(Store(demo[0]), out=tmp_path / "b", workers=2, progress=False)
    assert sorted(serial.pages) == sorted(forked.pages)
    for rel in serial.pages:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_workers_leave_an_active_run_alone(demo, tmp_path: Path, monkeypatch) -> None:
    """Building from inside a tracked run (as the quickstart does) must not end that run."""
    import dii_hpc
    from dii_hpc.report import parallel

    store_dir = tmp_path / "store"
    shutil.copytree(demo[0], store_dir)
    monkeypatch.setattr(parallel, "MIN_PARALLEL", 1)
    with dii_hpc.start_run("outer", store=Store(store_dir)) as run:
        run.log_metric("x", 1.0, step=0)
        build_site(Store(store_dir), out=tmp_path / "site", workers=2, progress=False)
        assert Store(store_dir).run(run.id)["status"] == "RUNNING"
        run.log_metric("x", 2.0, step=1)
    record = Store(store_dir).run(run.id)
    assert record["status"] == "FINISHED" and record["metrics"]["x"]["count"] == 2
