"""Test choice per feature, documented shifts found on exactly the shifted features, batch rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dii_hpc.drift.compare import compare_frames
from dii_hpc.drift.options import DriftOptions
from dii_hpc.errors import BadInput


def batch(n: int, seed: int, shifted: bool = False) -> pd.DataFrame:
    """Six numeric features, a few-valued one and two categorical ones.

    The documented shift: `mean` moves by 0.5 sd, `scale` widens 1.5x, and the mix of `mix`
    goes from 50/30/20 to 20/30/50; nothing else changes.
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"n{i}": rng.normal(size=n) for i in range(4)})
    frame["mean"] = rng.normal(10, 2, size=n) + (1.0 if shifted else 0.0)
    frame["scale"] = rng.normal(0, 1.5 if shifted else 1.0, size=n)
    frame["few"] = rng.integers(0, 3, size=n)
    frame["mix"] = rng.choice(["a", "b", "c"], size=n, p=[0.2, 0.3, 0.5] if shifted else [0.5, 0.3, 0.2])
    frame["cat"] = rng.choice(["u", "v"], size=n)
    return frame


SHIFTED = {"mean", "scale", "mix"}


@pytest.mark.parametrize(("n", "tests"), [
    (1000, {"ks", "chisquare"}),
    (20000, {"wasserstein", "jensenshannon"}),
])
def test_documented_shift_found_on_exactly_the_shifted_features(n: int, tests: set[str]) -> None:
    opt = DriftOptions(correction="bonferroni")
    sec = compare_frames(batch(n, 1), batch(n, 2, shifted=True), opt)
    assert {k for k, f in sec.features.items() if f.drift} == SHIFTED
    assert {f.test for f in sec.features.values()} == tests
    assert sec.share_drifted == pytest.approx(3 / 9)
    assert sec.drift is False and sec.rule == "share>=0.5"
    same = compare_frames(batch(n, 1), batch(n, 3), opt)
    assert not any(f.drift for f in same.features.values())


def test_default_test_table() -> None:
    sec = compare_frames(batch(500, 1), batch(500, 2), DriftOptions())
    f = sec.features
    assert f["n0"].test == "ks" and f["n0"].type == "numeric"
    assert f["few"].test == "chisquare" and f["few"].type == "numeric"
    assert f["mix"].test == "chisquare" and f["mix"].type == "categorical"
    big = compare_frames(batch(3000, 1), batch(3000, 2), DriftOptions()).features
    assert big["n0"].test == "wasserstein" and big["n0"].p_value is None
    assert big["few"].test == "jensenshannon" and big["mix"].test == "jensenshannon"
    assert big["n0"].threshold == 0.1


def test_overrides_and_corrections() -> None:
    opt = DriftOptions(tests={"n0": "psi", "mean": "ks", "mix": "jensenshannon"},
                       categorical=["few"], correction="bh")
    sec = compare_frames(batch(3000, 1), batch(3000, 2, shifted=True), opt)
    f = sec.features
    assert (f["n0"].test, f["mean"].test, f["mix"].test) == ("psi", "ks", "jensenshannon")
    assert f["few"].type == "categorical" and f["mean"].p_adjusted is not None
    with pytest.raises(BadInput, match="'mix' is categorical; test 'ks' takes numeric features"):
        compare_frames(batch(100, 1), batch(100, 2), DriftOptions(tests={"mix": "ks"}))
    with pytest.raises(BadInput, match="test override names no column of reference: nope"):
        compare_frames(batch(100, 1), batch(100, 2), DriftOptions(tests={"nope": "ks"}))
    with pytest.raises(BadInput, match=r"tests.a: 'tt' is not a drift test \(choose from "):
        DriftOptions.from_mapping({"tests": {"a": "tt"}}, "x.yaml")


def test_bonferroni_adjusts_p_values() -> None:
    plain = compare_frames(batch(300, 1), batch(300, 2), DriftOptions()).features
    bonf = compare_frames(batch(300, 1), batch(300, 2),
                          DriftOptions(correction="bonferroni")).features
    for name, f in bonf.items():
        assert f.p_adjusted == pytest.approx(min(1.0, plain[name].p_value * 9))


def test_share_rule_and_multivariate_rule() -> None:
    ref, cur = batch(800, 1), batch(800, 2, shifted=True)
    low = compare_frames(ref, cur, DriftOptions(drift_share=0.3))
    assert low.drift is True and low.rule == "share>=0.3"
    mv = compare_frames(ref, cur, DriftOptions(rule="mmd"))
    assert mv.multivariate["mmd"].drift and mv.drift is True
    assert mv.rule == "mmd p<0.05"


def test_nan_values_are_dropped_per_feature() -> None:
    ref, cur = batch(500, 1), batch(500, 2)
    ref.loc[::3, "n0"] = np.nan
    f = compare_frames(ref, cur, DriftOptions()).features["n0"]
    assert f.n_reference == 500 - len(range(0, 500, 3)) and f.n_current == 500


def test_example_config_loads() -> None:
    from pathlib import Path

    from dii_hpc.drift.options import load_options

    path = Path(__file__).resolve().parents[2] / "configs" / "drift-example.yaml"
    opt = load_options(str(path), {"drift_share": 0.3})
    assert opt.correction == "bh" and opt.tests["age"] == "psi" and opt.drift_share == 0.3
    assert opt.thresholds == {"wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.1}
    with pytest.raises(BadInput, match="x.yaml: alfa: unknown key; did you mean alpha"):
        DriftOptions.from_mapping({"alfa": 0.1}, "x.yaml")
