"""Audit fixtures: demo models trained once per session into a session cache dir."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session", autouse=True)
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo weights cache for the whole session (CI reruns reuse ~/.cache otherwise)."""
    path = Path(os.environ.get("DII_HPC_TEST_CACHE") or tmp_path_factory.mktemp("dii-cache"))
    old = os.environ.get("DII_HPC_CACHE")
    os.environ["DII_HPC_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("DII_HPC_CACHE", None)
    else:
        os.environ["DII_HPC_CACHE"] = old


@pytest.fixture(scope="session")
def digits(demo_cache: Path) -> tuple[Any, Any]:
    from dii_hpc.examples.digits import digits_data, digits_model

    return digits_model(), digits_data()


@pytest.fixture(scope="session")
def digits_eval(digits: tuple[Any, Any]) -> tuple[Any, Any]:
    """200 test points, as the audit config picks them (seed 0)."""
    from dii_hpc.audit.core.data import prepare
    from dii_hpc.audit.job import of

    prep = prepare(of({"model": "dii_hpc.examples.digits:digits_model",
                       "data": "dii_hpc.examples.digits:digits_data", "n_samples": 200,
                       "seed": 0}, "II", "fgsm"))
    return prep.x, prep.y


DIGITS = ["--model", "dii_hpc.examples.digits:digits_model",
          "--data", "dii_hpc.examples.digits:digits_data"]


def cli(*args: str) -> int:
    """The CLI in-process (torch and the demo weights stay loaded): returns the exit code."""
    from dii_hpc.cli.app import main

    return main(list(args))
