"""The monitor page (#30 item 4): estimated vs realized performance over the checks and the
latest check's chunks, data-quality rules per column, the drift trend and the reason of each
alert; built from real checks of a monitor (profile --target, check, score --labels) and
looked at in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dii_hpc.cli.app import main
from tests.drift.test_estimate import MODELS


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three nightly checks of monitor 'prod': as the reference, moved towards the model's
    uncertain region (its labels scored later), and with values out of range."""
    import sys

    from dii_hpc.report import build_site
    from dii_hpc.store.store import Store

    root = tmp_path_factory.mktemp("monitor-page")
    (root / "models.py").write_text(MODELS)
    sys.path.insert(0, str(root))
    mp = pytest.MonkeyPatch()
    mp.setenv("DII_HPC_STORE", str(root / "store"))
    mp.chdir(root)
    try:
        import models

        x, y = models.classes()
        cols = [f"f{i}" for i in range(x.shape[1])]
        pd.DataFrame(x[10000:14000], columns=cols).assign(label=y[10000:14000]) \
            .to_csv("ref.csv", index=False)
        assert main(["drift", "profile", "--data", "ref.csv", "--name", "prod", "--model",
                     "models:classifier", "--target", "label"]) == 0
        margin = np.abs(models.classifier().decision_function(x[14000:]))
        keep = np.random.default_rng(1).random(len(margin)) < np.exp(-1.5 * margin)
        batches = {"same": (x[14000:17000], y[14000:17000]),
                   "moved": (x[14000:][keep][:3000], y[14000:][keep][:3000])}
        wide = x[17000:20000].copy()
        wide[:300, 2] += 40.0                     # 10 % far out of the reference's range
        batches["broken"] = (wide, y[17000:20000])
        for name, (bx, by) in batches.items():
            pd.DataFrame(bx, columns=cols).to_csv(f"{name}.csv", index=False)
            pd.DataFrame({"label": by}).to_csv(f"{name}-labels.csv", index=False)
            assert main(["drift", "check", "--monitor", "prod", "--data", f"{name}.csv",
                         "--chunk-size", "1000"]) in (0, 1)
            if name != "broken":                  # labels came for the first two nights
                assert main(["drift", "score", "--monitor", "prod", "--labels",
                             f"{name}-labels.csv"]) in (0, 1)
        out = root / "site"
        build_site(Store(root / "store"), out=out, progress=False)
        return out
    finally:
        mp.undo()
        sys.path.remove(str(root))


def test_monitor_page_html(site: Path) -> None:
    from dii_hpc.report.pages import monitor_path

    html = (site / monitor_path("prod")).read_text()
    assert "estimated by CBPE" in html and "calibration: isotonic" in html
    perf = html[html.index('id="performance"'):html.index('id="quality"')]
    assert perf.count('class="band s0"') >= 6   # 3 metrics over time + 3 over chunks
    assert "realized accuracy" in perf and "Latest check by chunk" in perf
    quality = html[html.index('id="quality"'):]
    assert re.search(r"<td>f2</td><td>fail</td>\s*<td><b>out_of_range</b>: 10\.00% outside",
                     quality)
    assert "data quality: out_of_range on f2" in html        # the latest check's reason
    assert "performance: estimated accuracy" in html and "below the limit" in html


@pytest.mark.browser
def test_monitor_page_in_chromium(site: Path, tmp_path: Path) -> None:
    from dii_hpc.report.pages import monitor_path
    from tests.report.cdp import Browser

    b = Browser(tmp_path / "profile")
    try:
        b.open((site / monitor_path("prod")).as_uri())
        b.pump(0.3)
        b.screenshot(tmp_path / "monitor.png")
        print(f"\nscreenshot: {tmp_path / 'monitor.png'}")
        assert b.errors == []
        outside = [u for u in b.requests if not u.startswith(("file://", "data:", "about:"))]
        assert outside == []
        bands = b.eval("document.querySelectorAll('#performance svg path.band').length")
        lines = b.eval("document.querySelectorAll('#performance svg path.line').length")
        # over the checks: estimated + realized; the latest (unscored) check's chunks: estimated
        assert bands == 6 and lines == 9
        box = b.eval("(() => { const r = document.querySelector('#performance svg path.band')"
                     ".getBoundingClientRect(); return [r.width, r.height]; })()")
        assert box[0] > 50 and box[1] > 2              # drawn, not collapsed
        assert b.eval("document.querySelectorAll('#quality tr.bad').length") == 1
    finally:
        b.close()
