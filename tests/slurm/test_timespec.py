"""One Slurm time grammar: every form of sbatch(1) --time, sacct's fractions, no-limit words."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dii_hpc.slurm import timespec

small = st.integers(min_value=0, max_value=59)
FORMS = {  # form -> (text from d, h, m, s; seconds it means)
    "M": (lambda d, h, m, s: f"{m}", lambda d, h, m, s: m * 60),
    "M:S": (lambda d, h, m, s: f"{m}:{s:02d}", lambda d, h, m, s: m * 60 + s),
    "H:M:S": (lambda d, h, m, s: f"{h}:{m:02d}:{s:02d}", lambda d, h, m, s: h * 3600 + m * 60 + s),
    "D-H": (lambda d, h, m, s: f"{d}-{h}", lambda d, h, m, s: d * 86400 + h * 3600),
    "D-H:M": (lambda d, h, m, s: f"{d}-{h}:{m:02d}", lambda d, h, m, s: d * 86400 + h * 3600 + m * 60),
    "D-H:M:S": (lambda d, h, m, s: f"{d}-{h:02d}:{m:02d}:{s:02d}",
                lambda d, h, m, s: d * 86400 + h * 3600 + m * 60 + s),
}


@given(form=st.sampled_from(sorted(FORMS)), d=st.integers(0, 400), h=st.integers(0, 23),
       m=small, s=small)
def test_every_slurm_form_parses_to_its_seconds(form: str, d: int, h: int, m: int, s: int) -> None:
    text, seconds = (f(d, h, m, s) for f in FORMS[form])
    assert timespec.parse(text) == seconds
    assert timespec.minutes(text) == math.ceil(seconds / 60)


@given(st.integers(min_value=0, max_value=10**8))
def test_format_round_trips(seconds: int) -> None:
    text = timespec.format_seconds(seconds)
    assert timespec.parse(text) == seconds
    assert ("-" in text) == (seconds >= 86400)


def test_a_dash_means_days() -> None:
    """The disagreement that started this module: "1-12" is one day and twelve hours."""
    assert timespec.parse("1-12") == 36 * 3600
    assert timespec.minutes("1-12") == 36 * 60


@pytest.mark.parametrize(("text", "seconds"), [("00:00.182", 0.182), ("01:02:03.5", 3723.5),
                                               ("12:30.25", 750.25)])
def test_sacct_fractional_seconds(text: str, seconds: float) -> None:
    assert timespec.parse(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["UNLIMITED", "INFINITE", "Partition_Limit", "infinite"])
def test_no_limit_words(text: str) -> None:
    assert timespec.parse(text) is None
    with pytest.raises(ValueError, match="no time limit"):
        timespec.minutes(text)


@pytest.mark.parametrize("text", ["bogus", "", "1-", "-5", "1:2:3:4", "1.5", "1-2.5", "1h", "1-2:3:4:5"])
def test_malformed_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="Slurm time|fraction"):
        timespec.parse(text)
    assert timespec.parse_or_none(text) is None
