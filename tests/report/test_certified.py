"""A certification audit's page: the certified-accuracy curve from per-sample radii beside the
empirical robustness of the evasion audits of the same model, one chart per norm, and a
sanity flag when the empirical curve falls below the certified one in the same norm."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dii_hpc.report import certified


def _cert(radius: list[float], correct: list[bool], norm: str = "inf",
          sha: str = "w1") -> dict[str, Any]:
    """A run record of an interval_bounds audit (the package's result format)."""
    return {"run_id": "cert", "kind": "audit", "manifest": {"weights_sha256": sha},
            "audit": {"attack": "interval_bounds", "threat": "certification",
                      "params": {"norm": norm},
                      "samples": {"radius": radius, "correct": correct,
                                  "prediction": [0] * len(radius), "label": [0] * len(radius)}}}


def _evasion(curve: list[tuple[float, float]], sha: str = "w1") -> dict[str, Any]:
    """A run record of an evasion suite: its PGD curve (Linf) and a pgd_l2 attack."""
    return {"run_id": "evasion", "kind": "audit", "manifest": {"weights_sha256": sha},
            "audit": {"suite": "evasion", "threat": "evasion",
                      "curves": {"robustness": [{"eps": e, "robust_accuracy": a}
                                                for e, a in curve]},
                      "attacks": [{"name": "pgd", "params": {"norm": "inf", "eps": 0.1},
                                   "metrics": {"robust_accuracy": 0.8}},
                                  {"name": "pgd_l2", "params": {"norm": 2, "eps": 0.5},
                                   "metrics": {"robust_accuracy": 0.4}}]}}


def test_the_certified_curve_is_read_from_the_per_sample_radii() -> None:
    (curve,) = certified.certified(_cert([0.0, 0.05, 0.1, 0.2], [True, True, False, True]))
    assert curve.norm == "inf" and curve.n == 4
    assert [certified.at(curve, r) for r in (0.0, 0.05, 0.1, 0.15, 0.3)] == [
        0.75, 0.5, 0.25, 0.25, 0.0]  # right and certified at least that far


def test_an_empirical_point_below_the_certified_curve_is_flagged() -> None:
    cert = _cert([0.05, 0.1, 0.2, 0.2], [True] * 4)  # certified: 1.0 to 0.05, 0.5 at 0.2
    fine = certified.context(cert, [_evasion([(0.05, 1.0), (0.2, 0.5), (0.3, 0.0)])])
    assert fine is not None and [f["ok"] for f in fine["flags"]] == [True]
    low = certified.context(cert, [_evasion([(0.05, 1.0), (0.2, 0.25)])])
    assert low is not None and [f["ok"] for f in low["flags"]] == [False]
    assert "robust accuracy 0.250 at radius 0.2, below" in low["flags"][0]["detail"]
    assert "0.500" in low["flags"][0]["detail"]
    assert 'class="pt flag' in str(low["charts"][0]["svg"])  # the point drawn as flagged
    # one chart per norm (the Linf certificate first); the L2 attack is no evidence here
    assert [c["title"].split(":")[0] for c in low["charts"]] == ["Linf", "L2"]
    assert "no certificate in this norm" in low["charts"][1]["title"]


def test_no_flag_without_an_empirical_result_in_the_same_norm() -> None:
    cert = _cert([0.5, 0.9], [True, True], norm="2")
    ctx = certified.context(cert, [{**_evasion([(0.05, 0.0)]), "audit": {
        **_evasion([(0.05, 0.0)])["audit"], "attacks": []}}])
    assert ctx is not None and ctx["flags"] == [] and ctx["norms"]["empirical"] == ["inf"]
    assert certified.context(_evasion([(0.1, 0.5)]), []) is None  # not a certification


@pytest.mark.browser
def test_the_audit_page_in_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real audits of one model: interval_bounds (Linf) and the evasion suite. The page
    shows both curves in the Linf chart and the suite's pgd_l2 in an L2 one, flags nothing
    (bounds are sound), and loads without errors or requests."""
    from dii_hpc.report import build_site
    from dii_hpc.report.pages import audit_path
    from dii_hpc.store.store import Store
    from tests.audit.conftest import cli
    from tests.report.cdp import Browser

    monkeypatch.setenv("DII_HPC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DII_HPC_STORE", str(tmp_path / "store"))
    config = tmp_path / "audit.yaml"
    config.write_text(json.dumps({
        "model": {"factory": "tests.audit.certification.models:digits_net",
                  "params": {"arch": "mlp"}},
        "data": "dii_hpc.examples.digits:digits_data", "n_samples": 40, "seed": 0,
        "experiment": "certify"}))
    out = tmp_path / "cert.json"
    assert cli("audit", "attack", "interval_bounds", "--config", str(config), "--param",
               "norm=inf", "--param", "radii=0,0.05,0.1", "--json", str(out)) == 0
    assert cli("audit", "suite", "evasion", "--config", str(config)) == 0
    run_id = json.loads(out.read_text())["run_id"]
    site = tmp_path / "site"
    build_site(Store(tmp_path / "store"), out=site, progress=False)

    browser = Browser(tmp_path / "chromium-profile")
    try:
        browser.open((site / audit_path(run_id)).as_uri())
        figures = browser.eval(
            "Array.from(document.querySelectorAll('#certified figure')).map(f => ["
            "f.querySelector('figcaption').textContent, f.querySelectorAll('path.line').length,"
            "f.querySelectorAll('circle.pt').length, f.querySelectorAll('circle.flag').length])")
        rows = browser.eval("Array.from(document.querySelectorAll('tr')).map(r => r.textContent)"
                            ".filter(t => t.includes('empirical_below_certified'))")
        shot = browser.screenshot(tmp_path / "certified-audit.png")
        assert browser.errors == [], browser.errors
        outside = [u for u in browser.requests if not u.startswith(("file://", "data:"))]
        assert outside == []
    finally:
        browser.close()
    print(f"\nscreenshot: {shot}")
    (linf, l2) = figures
    assert linf[0].startswith("Linf: certified and empirical") and linf[1] == 2  # two curves
    assert linf[2] >= 6 and linf[3] == 0  # the PGD curve's and the attacks' points, none low
    assert l2[0].startswith("L2: empirical") and l2[2] == 1  # pgd_l2 at its eps
    assert len(rows) == 1 and "ok" in rows[0] and "stays at or above" in rows[0]
