"""Statistics from sketches against the exact ones on the same generated data: KS within the
stated error, Wasserstein within its bound, the same drifted columns; exact on small data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dii_hpc.drift import compare
from dii_hpc.drift.options import DriftOptions
from dii_hpc.drift.sketch import check as sketched
from dii_hpc.drift.sketch.profile import profile_frame
from tests.drift.sketch.conftest import DRIFTED

NUMERIC = ["mean", "scale", "tail", "same", "uniform", "lognormal", "f32", "small"]


@pytest.fixture(scope="module")
def frames(batches: dict[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(batches["ref"]), pd.read_parquet(batches["cur"])


def _both(batches: dict[str, Path], frames: tuple[pd.DataFrame, pd.DataFrame],
          **options: object) -> tuple[object, object]:
    exact = compare.compare_frames(*frames, DriftOptions.model_validate(options))
    sketch = sketched.check_files(str(batches["ref_glob"]), str(batches["cur_glob"]),
                                  DriftOptions.model_validate({**options, "sketch": True}))
    return exact, sketch


def test_ks_within_the_stated_error_of_exact_ks(batches: dict[str, Path],
                                                 frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    exact, sketch = _both(batches, frames, tests={c: "ks" for c in NUMERIC})
    info = sketch.sketch
    assert info is not None and info.k == 400 and info.reference_files == 4
    assert 0 < info.rank_error_reference < 0.01  # KLL k=400: 0.68 % at 99 % confidence
    for col in NUMERIC:
        f, e = sketch.features[col], exact.features[col]
        assert f.error == pytest.approx(info.rank_error_reference + info.rank_error_current)
        assert abs(f.statistic - e.statistic) <= f.error, col
        assert f.n_reference == e.n_reference and f.n_current == e.n_current  # NaNs left out
    assert {c for c in NUMERIC if sketch.features[c].drift} == set(DRIFTED)
    assert {c for c in NUMERIC if exact.features[c].drift} == set(DRIFTED)


def test_default_tests_flag_the_same_columns(batches: dict[str, Path],
                                             frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    exact, sketch = _both(batches, frames)
    assert {c: f.test for c, f in sketch.features.items()} == \
        {c: f.test for c, f in exact.features.items()}  # wasserstein, jensenshannon for flag/color
    assert [c for c, f in sketch.features.items() if f.drift] == \
        [c for c, f in exact.features.items() if f.drift] == DRIFTED
    assert sketch.drift == exact.drift and sketch.n_drifted == exact.n_drifted
    for col in NUMERIC:
        f, e = sketch.features[col], exact.features[col]
        assert f.error is not None and abs(f.statistic - e.statistic) <= f.error, col
    for col in ("color", "flag"):  # few categories: exact counts, exact statistic
        assert sketch.features[col].statistic == pytest.approx(exact.features[col].statistic,
                                                               abs=1e-12)


def test_psi_from_sketch_bins_within_the_stated_share_error(
        batches: dict[str, Path], frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """What the method states: each bin's share within the sketch's share error (2 x the larger
    rank error, 99 % confidence); so PSI within that error carried through PSI's terms (first
    order), and the same drift decision wherever the exact PSI is further than that from the
    threshold. (KLL compacts at random: a fixed tolerance on PSI itself fails now and then.)"""
    from dii_hpc.drift import stats
    from dii_hpc.drift.sketch.tests import SketchPair

    exact, sketch = _both(batches, frames, tests={c: "psi" for c in NUMERIC})
    opt = DriftOptions(sketch=True)
    profiles = [sketched.profile_files(sketched.files_of(str(batches[side])), opt)
                for side in ("ref_glob", "cur_glob")]
    decided = 0
    for col in NUMERIC:
        pair = SketchPair("numeric", profiles[0].columns[col], profiles[1].columns[col])
        rc, cc, err = pair.counts()
        er, ec = stats.numeric_histograms(*(np.sort(f[col].dropna().to_numpy(np.float64))
                                           for f in frames))
        assert len(rc) == len(er), col  # the exact check's bins
        r, c = er / er.sum(), ec / ec.sum()
        assert err is not None
        if err:
            assert np.abs(rc / rc.sum() - r).max() <= err, col
            assert np.abs(cc / cc.sum() - c).max() <= err, col
        r, c = np.maximum(r, 1e-4), np.maximum(c, 1e-4)  # PSI's floor
        bound = float(np.sum(err * (2 * np.abs(np.log(c / r)) + np.abs(c - r) / c
                                    + np.abs(c - r) / r)))
        got, want = sketch.features[col], exact.features[col]
        assert got.statistic == pytest.approx(want.statistic, abs=bound), col
        if abs(want.statistic - want.threshold) > bound:
            assert got.drift == want.drift, col
            decided += 1
    assert decided >= 4  # the decision is compared on most columns, drifted ones included


def test_small_data_is_exact() -> None:
    """A sketch that still holds every value gives the exact functions' results."""
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 150), "y": rng.normal(0, 1, 150)})
    cur = pd.DataFrame({"x": rng.normal(0.5, 1, 120), "y": rng.normal(0, 1, 120)})
    opt = DriftOptions(tests={"y": "wasserstein"})
    exact = compare.compare_frames(ref, cur, opt)
    got = sketched.section_of(profile_frame(ref), profile_frame(cur), opt, "r", "c")
    for col in ("x", "y"):
        assert got.features[col].test == exact.features[col].test
        assert got.features[col].statistic == pytest.approx(exact.features[col].statistic,
                                                            rel=1e-12)
        assert got.features[col].error == 0.0
    assert got.features["x"].p_value == pytest.approx(exact.features["x"].p_value, rel=1e-9)
