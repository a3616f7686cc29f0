from __future__ import annotations

from pathlib import Path

import dii_hpc
from dii_hpc.report import build_site


def test_index_lists_deployments_with_throughput_and_drift(store_path: Path) -> None:
    with dii_hpc.start_run("train") as model_run:
        model_run.log_metric("acc", 0.9)
    with dii_hpc.start_run("inference", kind="inference", parent_run=model_run.id) as run:
        run.log_metric("rows_per_s", 12345.0)
        run.set_section("inference", {"model": "pkg:<b>model</b>", "model_run": model_run.id,
                                      "rows": 1000, "rows_per_s": 12345.0, "shards": 4,
                                      "monitor": "m1", "last_drift": {"drift": True}})
    html = build_site(dii_hpc.Store(), out=store_path / "site").index.read_text()
    section = html[html.index("<h2>Deployments</h2>"):]
    assert run.id in section and ("1.234e+04" in section or "12345" in section)
    assert "drift" in section and "&lt;b&gt;model&lt;/b&gt;" in section and "<b>model" not in section
    assert f"runs/{model_run.id}" in section
