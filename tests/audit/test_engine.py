"""Reproducibility: every suite and every attack, run twice with one seed, gives the same JSON.

Small samples and briefly trained models keep each case at a few seconds; what is checked
is the whole result (metrics, intervals, curves, grade, summary, seeds), timings aside.
"""

from __future__ import annotations

from typing import Any

import pytest

from dii_hpc.audit import engine, specs
from dii_hpc.audit.core import results
from dii_hpc.audit.job import AuditJob, of

TABULAR = {"model": {"factory": "dii_hpc.examples.tabular:breast_cancer_model",
                     "params": {"epochs": 5}},
           "data": "dii_hpc.examples.tabular:breast_cancer_data"}
IMAGES = {"model": {"factory": "dii_hpc.examples.digits:digits_model", "params": {"epochs": 2}},
          "data": "dii_hpc.examples.digits:digits_data"}
IMAGES_ONLY = {"square", "clean_label_backdoor"}
PARAMS = {"label_flip": {"fractions": [0.0, 0.3]}, "clean_label_backdoor": {"fraction": 0.2},
          "lira": {"n_reference": 4}, "rmia": {"n_reference": 4},
          "dp_canary": {"n_canaries": 60}, "smoothing": {"n": 500, "n0": 20}}
SUITE_PARAMS = {"privacy": {"n_reference": 4},  # LiRA and RMIA join: the models have fit
                "certification": {"n": 500, "n0": 20}}
# every built-in attack of the ART engine for classifiers (detection/segmentation: tests/audit/vision)
ATTACKS = [s.name for s in specs.ATTACKS if s.engine == "art"
           and {"image_classification", "tabular_classification"} & set(s.tasks)]


def _numbers(obj: Any) -> Any:
    """The result without what may differ between identical runs (timings)."""
    if isinstance(obj, dict):
        return {k: _numbers(v) for k, v in obj.items() if k not in ("time_s", "resumed_shards")}
    if isinstance(obj, list):
        return [_numbers(v) for v in obj]
    return obj


def _twice(job: AuditJob) -> tuple[Any, Any]:
    return tuple(_numbers(results.clean_json(engine.compute(job))) for _ in range(2))


@pytest.mark.parametrize("suite", [s.name for s in specs.suites()])
def test_suite_twice_with_one_seed_is_identical(suite: str, demo_cache: Any,
                                                store_path: Any) -> None:
    first, second = _twice(of({**TABULAR, "n_samples": 40, "seed": 3,
                               "params": SUITE_PARAMS.get(suite) or {}}, "I", suite))
    assert first == second
    assert first["grade"] in tuple("ABCDE") and first["attacks"]
    assert first["manifest"]["randomness"]["seeds"]  # the seeds used are on record


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_twice_with_one_seed_is_identical(name: str, demo_cache: Any,
                                                 store_path: Any) -> None:
    data = IMAGES if name in IMAGES_ONLY else TABULAR
    first, second = _twice(of({**data, "n_samples": 40, "seed": 3}, "II", name,
                              dict(PARAMS.get(name, {}))))
    assert first == second
    assert first["attacks"][0]["seeds"]
    assert first["manifest"]["randomness"]["seeds"] == {name: first["attacks"][0]["seeds"]}


def test_a_different_seed_gives_different_random_starts(demo_cache: Any) -> None:
    runs = [results.clean_json(engine.compute(of({**TABULAR, "n_samples": 40, "seed": s},
                                                 "II", "hsj")))
            for s in (0, 1)]
    assert runs[0]["attacks"][0]["seeds"] != runs[1]["attacks"][0]["seeds"]
    assert runs[0]["attacks"][0]["metrics"] != runs[1]["attacks"][0]["metrics"]
