"""Lineage of a version trained through the Executor: config, code, inputs, default loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.config import from_dict
from dii_hpc.errors import BadInput
from dii_hpc.launch.submit import run_debug_jobs, submit
from dii_hpc.registry import uri
from dii_hpc.registry.registry import Registry
from dii_hpc.store.store import Store

REPO = Path(__file__).resolve().parents[2]
FIX = "tests.launch.fixtures.models"


def _trained(store_path: Path, loader: object) -> list[str]:
    model = {"class": f"{FIX}:Quadratic", "params": {"width": 4}}
    if loader is not None:
        model["loader"] = loader
    raw = {"experiment": "fx", "models": {"q": model},
           "datasets": {"p": {"class": f"{FIX}:Points", "params": {"n": 3}}},
           "params": {"lr": 0.5}, "sweep": {"grid": {"models.q.params.width": [2, 7]}},
           "resources": {"time": "00:01:00", "sys_metrics_s": 0}}
    res = submit(from_dict(raw), Store(store_path), "debug")
    run_debug_jobs(res.submission_id)
    return res.run_ids


def test_a_version_records_config_code_inputs_and_the_configured_loader(
        store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    runs = _trained(store_path, {"factory": "tests.registry.fixtures:load_quadratic"})
    v = Registry(store_path).register(runs[1], "quad", artifact="weights.txt")
    assert v["config"]["models"]["q"]["params"]["width"] == 7 and v["run"]["params"]["lr"] == 0.5
    assert v["inputs"]["p"]["source"] == f"{FIX}:Points(n=3)" and v["inputs"]["p"]["rows"] == 3
    assert len(v["code"]["commit"]) == 40 and isinstance(v["code"]["dirty"], bool)
    assert v["loader"] == {"factory": "tests.registry.fixtures:load_quadratic",
                           "params": {"width": 7}, "weights_param": "weights"}
    assert uri.build("models:/quad/1") == {"width": 7, "lr": 0.5, "seed": 0, "configured_width": 7}


def test_a_run_whose_config_names_no_loader_needs_one(store_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    runs = _trained(store_path, None)
    reg = Registry(store_path)
    with pytest.raises(BadInput, match="no loader recorded; give --loader"):
        reg.register(runs[0], "quad", artifact="weights.txt")
    with pytest.raises(BadInput, match="cannot tell which artifact holds the weights"):
        reg.register(runs[0], "quad", loader="tests.registry.fixtures:load_quadratic")
    with pytest.raises(BadInput, match="--loader: 'tests.registry.fixtures:nope': .* has no attribute"):
        reg.register(runs[0], "quad", artifact="weights.txt", loader="tests.registry.fixtures:nope")
    v = reg.register(runs[0], "quad", artifact="weights.txt",
                     loader="tests.registry.fixtures:load_quadratic", loader_params={"width": 9})
    assert v["loader"]["params"] == {"width": 9}
