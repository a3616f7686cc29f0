"""Pipeline fixtures: a sweep config of `fixtures.Scored`, policies, a pipeline file writer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIX = "tests.pipeline.fixtures"


def sweep_config(model: str = "Scored", lrs: tuple[float, ...] = (0.2, 0.4)) -> dict[str, Any]:
    return {"experiment": "pl-train",
            "models": {"m": {"class": f"{FIX}:{model}", "params": {"width": 1},
                             "loader": {"factory": f"{FIX}:load"}}},
            "params": {"lr": 0.1}, "sweep": {"grid": {"lr": list(lrs)}},
            "resources": {"time": "00:05:00", "array_parallelism": 2}}


@pytest.fixture()
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(name, obj) -> a YAML (JSON is YAML) file under tmp_path."""

    def _write(name: str, obj: Any) -> Path:
        path = tmp_path / name
        path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
        return path

    return _write


@pytest.fixture()
def files(write: Callable[..., Path]) -> dict[str, Path]:
    """A sweep config, a passing and a failing training policy."""
    return {"sweep": write("sweep.yaml", sweep_config()),
            "boom": write("boom.yaml", sweep_config("Boom", (0.2,))),
            "policy": write("policy.yaml", {"training": {"val_acc": ">= 0.3"}}),
            "strict": write("strict.yaml", {"training": {"val_acc": ">= 0.9"}})}


def lifecycle(files: dict[str, Path], policy: str = "policy", sweep: str = "sweep") -> dict[str, Any]:
    """sweep -> select (registers as pl-model) -> gate -> promote -> report, and a command."""
    return {"pipeline": "pl-test", "stages": {
        "train": {"sweep": str(files[sweep])},
        "best": {"select": {"from": "train", "metric": "val_acc"}},
        "gate": {"gate": {"name": "pl-model", "to": "champion", "policy": str(files[policy])},
                 "needs": ["best"]},
        "promote": {"promote": {"name": "pl-model", "to": "champion",
                                "policy": str(files[policy])}, "needs": ["gate"]},
        "note": {"command": "python -c \"open('{work}/note.txt', 'w').write('ok')\"",
                 "needs": ["best"]},
        "site": {"report": {}, "needs": ["promote", "note"]},
    }}
