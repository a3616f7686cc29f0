"""`report.serve.render`: every file of a built site, rendered on demand, is the file the build
wrote (the one renderer); paths that are not pages of the store are None."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.report import build_site, serve
from dii_hpc.report.pages import experiment_path, run_path
from dii_hpc.store.store import Store


@pytest.fixture(scope="module")
def built(demo, tmp_path_factory) -> tuple[Store, Path, dict[str, str]]:
    store = Store(demo[0])
    out = tmp_path_factory.mktemp("serve-site")
    build_site(store, out=out, progress=False)
    return store, out, demo[1]


def _site_files(out: Path) -> list[str]:
    skip = ("static/", "files/", ".dii-report/")
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.is_file() and not str(p.relative_to(out)).startswith(skip))


def test_every_built_file_is_rendered_the_same(built) -> None:
    store, out, ids = built
    paths = _site_files(out)
    kinds = {p.split("/")[0] for p in paths}
    assert {"index.html", "experiments", "runs", "audits", "monitors", "data"} <= kinds
    for path in paths:
        got = serve.render(store, path)
        assert got is not None, path
        body, media = got
        assert media.startswith("text/html" if path.endswith(".html") else "text/javascript")
        assert body == (out / path).read_bytes(), path
    assert serve.render(store, "") == serve.render(store, "index.html")


@pytest.mark.parametrize("path", [
    "runs/NOPE.html", "runs/../index.html", "../index.html", "experiments/nope.html",
    "data/digits/runs-99.js", "data/digits/hist-x.js", "data/digits/full/NOPE.js",
    "static/app.js", "files/abc/x.png", "nope.html", "runs/", "audits/NOPE.html",
    "monitors/nope.html", "models/nope.html", "pipelines/nope.html",
])
def test_paths_that_are_not_pages(built, path: str) -> None:
    assert serve.render(built[0], path) is None


def test_a_run_without_a_built_page_is_served(built, tmp_path: Path) -> None:
    """A build gives only some runs a page at scale; the server renders any run's page, and
    links from it to other runs are pages too."""
    store, _, ids = built
    small = tmp_path / "site"
    build_site(store, out=small, progress=False, run_pages=0)
    assert not (small / run_path(ids["train2"])).exists()
    body, _ = serve.render(store, run_path(ids["train2"]))
    assert ids["train2"].encode() in body
    exp = serve.render(store, experiment_path("digits"))[0].decode()
    assert "have a page of their own" not in exp  # every run has one when served


def test_a_pipeline_page_is_served_as_built(demo, tmp_path: Path) -> None:
    """A pipeline page served on demand is the built one (serve read the pipeline as a dict
    when the records became typed, and raised TypeError on every pipeline page)."""
    import shutil

    from dii_hpc.records import pipeline as records
    from dii_hpc.report.pages import pipeline_path

    root = tmp_path / "store"
    shutil.copytree(demo[0], root)
    train = demo[1]["train2"]
    spec = {"stages": [{"name": "train", "kind": "run"}, {"name": "gate", "kind": "gate",
                                                           "needs": ["train"]}]}
    records.write_pipeline(root, records.PipelineRecord(
        id="p-1", name="nightly", executor="local", order=["train", "gate"], spec=spec,
        created=1.7e9))
    records.write_stage(root, "p-1", "train", state="FINISHED", kind="run", runs=[train],
                        start_time=1.7e9, end_time=1.7e9 + 5)
    store = Store(root)
    out = tmp_path / "site"
    build_site(store, out=out, progress=False)
    path = pipeline_path("p-1")
    got = serve.render(store, path)
    assert got is not None
    assert got[0] == (out / path).read_bytes()
    assert train.encode() in got[0] and b"nightly" in got[0]
