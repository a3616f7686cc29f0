"""`--mpi 2` gives exactly the numbers of one process, random starts included.

Each rank generates whole randomness blocks of 128 samples (`audit.randomness`), so the
samples here span two blocks and each rank has real work.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.audit.conftest import DIGITS, cli

pytestmark = pytest.mark.mpi  # skipped without mpirun: tests/conftest.py


def _without_timings(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if k != "time_s"}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def _one_and_two_ranks(tmp_path: Path, *args: str) -> dict[int, Any]:
    out = {}
    for n in (1, 2):
        path = tmp_path / f"mpi{n}.json"
        assert cli("audit", *args, *DIGITS, "--mpi", str(n), "--json", str(path),
                   "--no-store") == 0
        out[n] = _without_timings(json.loads(path.read_text()))
    return out


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])  # pgd with its random start
def test_mpi_two_ranks_equal_one(attack: str, tmp_path: Path, store_path: Path,
                                 digits: object) -> None:
    out = _one_and_two_ranks(tmp_path, "attack", attack, "--n-samples", "200")
    assert out[1]["metrics"] == out[2]["metrics"]
    assert out[1]["attacks"] == out[2]["attacks"]
    assert out[1]["n_samples"] == out[2]["n_samples"] == 200


@pytest.mark.slow
@pytest.mark.parametrize("suite,n", [("evasion", 150), ("privacy", 80)])
def test_mpi_suite_equals_one_process_for_every_attack(suite: str, n: int, tmp_path: Path,
                                                      store_path: Path, digits: object) -> None:
    """Every attack of the suite (PGD, APGD, Square, HSJ, label-only HSJ...) over 2 blocks."""
    from dii_hpc.audit.evasion import suite as evasion_suite
    from dii_hpc.audit.model.protocols import Task
    from dii_hpc.audit.privacy import suite as privacy_suite

    out = _one_and_two_ranks(tmp_path, "suite", suite, "--n-samples", str(n))
    mod = evasion_suite if suite == "evasion" else privacy_suite
    names = [r["name"] for r in out[1]["attacks"]]
    # the digits model has fit: LiRA and RMIA join the privacy suite (models trained once,
    # before mpirun, in the store: the ranks only score)
    extra = {"retrainable": True} if suite == "privacy" else {}
    assert names == list(mod.suite_attacks(Task.IMAGE_CLASSIFICATION, **extra))
    assert out[1]["attacks"] == out[2]["attacks"]
    assert out[1]["metrics"] == out[2]["metrics"] and out[1]["grade"] == out[2]["grade"]
    assert out[1]["curves"] == out[2]["curves"]
