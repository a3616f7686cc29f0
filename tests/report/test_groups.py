"""Seed groups (mean +- sd, 95 % band), archived runs hidden, notes and tags on the pages."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats

from dii_hpc.report import build_site
from dii_hpc.report.data import ARCHIVED
from dii_hpc.report.groups import band, mean_sd, seed_groups
from dii_hpc.report.pages import experiment_path, run_path
from dii_hpc.report.source import load_experiment
from dii_hpc.store.store import Store
from tests.report.conftest import experiment_data
from tests.report.seeds import build_seed_store


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("seeds") / "store"
    return root, build_seed_store(root)


def test_runs_equal_but_for_their_seed_form_groups(seeded: tuple[Path, dict]) -> None:
    root, ids = seeded
    runs = load_experiment(Store(root), "seeds")
    groups = seed_groups(runs)
    assert [sorted(r.run_id for r in g) for g in groups] == [sorted(ids["groups"][0.1]),
                                                             sorted(ids["groups"][0.01])]
    assert ids["archived"] not in {r.run_id for g in groups for r in g}


def test_band_is_the_t_interval_of_the_mean() -> None:
    curves = [[[0, 1, 2], [1.0, 2.0, 3.0]], [[0, 1, 2], [2.0, 2.0, 5.0]],
              [[1, 2], [5.0, 4.0]]]
    steps, mean, lo, hi = band(curves)
    assert steps == [1, 2]  # only the steps every curve has
    sd = stats.tstd([2.0, 2.0, 5.0])
    half = stats.t.ppf(0.975, 2) * sd / math.sqrt(3)
    assert mean[0] == pytest.approx(3.0) and lo[0] == pytest.approx(3.0 - half, rel=1e-4)
    assert hi[0] == pytest.approx(3.0 + half, rel=1e-4)
    assert mean_sd([1.0, float("nan"), 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert band([[[0], [1.0]]]) is None


def test_pages_show_groups_notes_tags_and_hide_archived(seeded: tuple[Path, dict],
                                                        tmp_path: Path) -> None:
    root, ids = seeded
    build_site(Store(root), out=tmp_path, progress=False)
    page = (tmp_path / experiment_path("seeds")).read_text()
    assert "Runs that differ only by seed" in page
    table = page[page.index('id="groups"'):page.index("</table>", page.index('id="groups"'))]
    assert table.count("<tr data-id=") == 2 and "lr=0.1" in table and "0, 1, 2" in table
    loss_last = [2.0 * math.exp(-0.1 * 10 * 19) + 0.05 * s for s in (0, 1, 2)]
    mean, sd = mean_sd(loss_last)
    assert f"{mean:.4g}" in table and f"{sd:.4g}" in table
    assert 'id="show-archived"' in page and "show 1 archived" in page
    run_page = (tmp_path / run_path(ids["archived"])).read_text()
    assert "bad data split" in run_page and "archived-tag" in run_page
    data, rows, _ = experiment_data(tmp_path, "seeds")
    assert [g["n"] for g in data["groups"]] == [3, 3]
    steps, mean, lo, hi = data["groups"][0]["curves"]["loss"]
    assert steps == list(range(20)) and all(a <= b <= c for a, b, c in zip(lo, mean, hi,
                                                                          strict=True))
    archived = [r["id"] for r in rows if r["flags"] & ARCHIVED]
    assert archived == [ids["archived"]]                 # the page hides them (test_browser)
    assert [rows[i]["id"] for i in data["archived"]] == archived
    noted = next(r for r in rows if r["id"] == ids["groups"][0.1][0])
    assert noted["note"] == "baseline <b>for the paper</b>"  # text: escaped where it is drawn
    assert noted["tags"] == {"paper": "fig3"}
