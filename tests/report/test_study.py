"""The experiment page of an adaptive sweep: best-so-far curve and param/metric charts, drawn
from the trial runs' saved sections (the report needs no Optuna)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dii_hpc.config import from_dict
from dii_hpc.launch import submit as sub
from dii_hpc.report import build_site
from dii_hpc.report.pages import experiment_path
from dii_hpc.report.source import load_experiment
from dii_hpc.report.study import study_context
from dii_hpc.store.store import Store

RAW = {"experiment": "opt", "models": {"m": {"class": "tests.launch.fixtures.optimum:Bowl"}},
       "params": {"lr": 0.01, "dropout": 0.0, "width": 8, "epochs": 4, "metric": "val_score"},
       "resources": {"sys_metrics_s": 0},
       "sweep": {"optimize": {"metric": "val_score", "direction": "maximize", "n_trials": 10,
                              "parallel": 1, "pruner": "median",
                              "space": {"lr": {"log_uniform": [1e-4, 1e-1]},
                                        "dropout": {"uniform": [0, 0.6]},
                                        "metric": {"choice": ["val_score"]}}}}}


@pytest.fixture(scope="module")
def study_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study") / "store"
    res = sub.submit(from_dict(RAW), Store(root), "debug")
    sub.run_debug_jobs(res.submission_id)
    return root


def test_best_so_far_is_the_running_best_of_saved_values(study_store: Path) -> None:
    runs = load_experiment(Store(study_store), "opt")
    ctx = study_context(runs)
    assert ctx is not None and ctx["n"] == 10 and ctx["metric"] == "val_score"
    sections = sorted((r.record["trial"] for r in runs), key=lambda s: s["number"])
    values = [s["value"] for s in sections if s["state"] == "COMPLETE"]
    assert ctx["best"]["value"] == max(values)
    assert sum(ctx["counts"].values()) == 10 and set(ctx["counts"]) <= {"COMPLETE", "PRUNED"}
    svg = str(ctx["history_svg"])
    assert "best so far" in svg and svg.count('class="pt') >= len(values)
    assert [c["key"] for c in ctx["param_charts"]] == ["lr", "dropout", "metric"]
    assert "log10(lr)" in str(ctx["param_charts"][0]["svg"])
    assert ">val_score</text>" in str(ctx["param_charts"][2]["svg"])  # a choice, by its label


def test_experiment_page_shows_the_study(study_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(Store(study_store), out)
    page = (out / experiment_path("opt")).read_text()
    assert "Study: maximize <code>val_score</code>" in page
    assert "Best so far by trial" in page and "lr against val_score" in page
    best = study_context(load_experiment(Store(study_store), "opt"))["best"]
    assert re.search(rf"best: trial {best['number']},", page)


def test_no_study_section_without_trials(tmp_path: Path) -> None:
    import dii_hpc

    store = Store(tmp_path / "s")
    with dii_hpc.start_run("plain", store=store) as run:
        run.log_metric("acc", 0.5)
    assert study_context(load_experiment(store, "plain")) is None
