"""`--mpi 2` gives the same numbers as `--mpi 1` for deterministic attacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.audit.conftest import DIGITS, cli

pytestmark = pytest.mark.mpi  # skipped without mpirun: tests/conftest.py


@pytest.mark.slow
@pytest.mark.parametrize("attack,params", [("fgsm", []),
                                           ("pgd", ["--param", "num_random_init=0"])])
def test_mpi_two_ranks_equal_one(attack: str, params: list[str], tmp_path: Path,
                                 store_path: Path, digits: object) -> None:
    out = {}
    for n in (1, 2):
        path = tmp_path / f"mpi{n}.json"
        code = cli("audit", "attack", attack, *DIGITS, *params, "--n-samples", "100",
                   "--mpi", str(n), "--json", str(path))
        assert code == 0
        out[n] = json.loads(path.read_text())
    assert out[1]["metrics"] == out[2]["metrics"]
    assert out[1]["n_samples"] == out[2]["n_samples"] == 100
