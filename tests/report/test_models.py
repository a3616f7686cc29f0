"""The model page: versions, aliases and history, lineage, two versions' audits overlaid."""

from __future__ import annotations

from pathlib import Path

import dii_hpc
from dii_hpc.registry.registry import Registry
from dii_hpc.report import build_site

LOADER = "tests.registry.fixtures:constant"


def test_a_model_page_shows_versions_lineage_history_and_the_two_versions_audits(
        store_path: Path) -> None:
    with dii_hpc.start_run("train") as train:
        train.log_input("table", [[1.0, 2.0], [3.0, 4.0]], source="/data/<table>.csv")
        (Path(train.dir) / "model.pt").write_bytes(b"\x01")
        train.log_artifact(Path(train.dir) / "model.pt")
    reg = Registry(dii_hpc.Store())
    for _ in range(2):
        reg.register(train.id, "mx", loader=LOADER)
    reg.attach("mx", 1, "audit", a1 := _one_audit(reg, "mx", 1, 0.5, "B"))
    reg.attach("mx", 2, "audit", a2 := _one_audit(reg, "mx", 2, 0.3, "C"))
    with dii_hpc.start_run("inference", kind="inference") as dep:
        dep.set_section("inference", {"model": "models:/mx/2", "rows": 77})
    reg.attach("mx", 2, "deployment", dep.id)
    reg.set_alias("mx", 1, "champion")
    reg.set_alias("mx", 2, "staging")
    site = build_site(dii_hpc.Store(), out=store_path / "site")
    page = (site.out / "models" / "mx.html").read_text()
    assert "v1" in page and "v2" in page and "champion" in page and "staging" in page
    assert f"runs/{train.id}.html" in page and f"audits/{a1}.html" in page and f"audits/{a2}.html" in page
    assert f"runs/{dep.id}.html" in page and "77 rows" in page
    assert "/data/&lt;table&gt;.csv" in page and "<table>.csv" not in page  # escaped
    compare = page[page.index('id="compare"'):page.index("<h2>Lineage</h2>")]
    assert "Audits of v1 and v2 side by side" in compare and "robustness" in compare
    assert compare.count("<svg") == 1 and ">v1<" in compare and ">v2<" in compare  # one chart, two series
    assert "0.5" in compare and "0.3" in compare
    history = page[page.index("<h2>Alias history</h2>"):]
    assert history.count("<tr>") == 3  # header + two moves
    index = site.index.read_text()
    assert "models/mx.html" in index and "champion &rarr; v1" in index


def _one_audit(reg: Registry, name: str, version: int, robust: float, grade: str) -> str:
    curve = [{"eps": e, "robust_accuracy": robust - e} for e in (0.0, 0.1, 0.2)]
    with dii_hpc.start_run("audits", kind="audit") as run:
        run.set_section("audit", {"suite": "evasion", "level": "I", "threat": "evasion",
                                  "grade": grade, "metrics": {"robust_accuracy": robust},
                                  "curves": {"robustness": curve}})
    return run.id


def test_the_model_page_is_rebuilt_only_when_the_model_changes(store_path: Path) -> None:
    with dii_hpc.start_run("train") as train:
        (Path(train.dir) / "model.pt").write_bytes(b"\x01")
        train.log_artifact(Path(train.dir) / "model.pt")
    reg = Registry(dii_hpc.Store())
    reg.register(train.id, "mx", loader=LOADER)
    out = store_path / "site"
    assert "models/mx.html" in build_site(dii_hpc.Store(), out=out).pages
    assert "models/mx.html" not in build_site(dii_hpc.Store(), out=out).pages
    reg.set_alias("mx", 1, "champion")
    again = build_site(dii_hpc.Store(), out=out)
    assert "models/mx.html" in again.pages and "index.html" in again.pages
