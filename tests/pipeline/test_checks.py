"""Each stage's own config is validated at submit: the library's one line, prefixed by the stage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dii_hpc.errors import ConfigError
from dii_hpc.pipeline import checks, spec
from tests.pipeline.conftest import lifecycle

REPO = Path(__file__).resolve().parents[2]


def _check(obj: dict, tmp_path: Path) -> None:
    checks.check(spec.parse(obj, str(tmp_path / "p.yaml")))


def test_the_lifecycle_and_the_example_file_pass(files: dict[str, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _check(lifecycle(files), tmp_path)
    monkeypatch.chdir(REPO)
    checks.check(spec.load(REPO / "configs" / "pipeline-digits.yaml"))


def _error(obj: dict, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        _check(obj, tmp_path)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_a_sweep_config_that_does_not_validate(write: Callable[..., Path], files: dict[str, Path],
                                               tmp_path: Path) -> None:
    bad = write("bad.yaml", {"experiment": "x", "modles": {}})
    obj = lifecycle(files)
    obj["stages"]["train"]["sweep"] = str(bad)
    assert _error(obj, tmp_path).startswith(f"stage train: {bad}")
    obj["stages"]["train"] = {"sweep": str(files["sweep"]), "set": {"params.nope.x": 1}}
    assert "stage train: --set params.nope.x=1: params.nope: no such key" in _error(obj, tmp_path)


def test_audit_policy_alias_and_resources_errors(files: dict[str, Path], write: Callable[..., Path],
                                                 tmp_path: Path) -> None:
    audit = str(REPO / "configs" / "audit-digits-suite.yaml")
    obj = lifecycle(files)
    obj["stages"]["ev"] = {"audit": audit, "suite": "evasions", "model_from": "best"}
    assert _error(obj, tmp_path).startswith("stage ev: suite: unknown suite 'evasions'")
    obj["stages"]["ev"] = {"audit": audit, "suite": "evasion", "model_from": "best",
                           "set": {"attacks": ["pgdd"]}}
    assert "stage ev: suite evasion has no attack 'pgdd'" in _error(obj, tmp_path)
    obj["stages"]["ev"] = {"audit": audit, "suite": "evasion", "model_from": "train"}
    assert _error(obj, tmp_path) == ("stage ev: model_from: train is a sweep stage, not a "
                                     "register or select stage")
    del obj["stages"]["ev"]
    obj["stages"]["gate"]["gate"]["policy"] = str(write("pol.yaml", {"audits": [{"suite": "x"}]}))
    assert _error(obj, tmp_path).startswith("stage gate: ")
    obj = lifecycle(files)
    obj["stages"]["promote"]["promote"]["to"] = "Champion!"
    assert _error(obj, tmp_path).startswith("stage promote: ")
    obj = lifecycle(files)
    obj["stages"]["note"]["resources"] = {"mem": "lots"}
    assert _error(obj, tmp_path) == ("stage note: resources.mem: 'lots' is not a memory size "
                                     "(e.g. 2G, 512M)")
    obj = lifecycle(files)
    obj["stages"]["lint"] = {"command": "true"}
    obj["stages"]["best"]["select"]["from"] = "lint"
    assert _error(obj, tmp_path) == "stage best: select.from: lint is a command stage, not a sweep stage"


def test_each_needs_one_array_stage_of_the_same_size(files: dict[str, Path], tmp_path: Path) -> None:
    obj = {"pipeline": "p", "stages": {"a": {"command": "true", "tasks": 2},
                                       "b": {"command": "true", "tasks": 3, "each": True,
                                             "needs": ["a"]}}}
    assert _error(obj, tmp_path) == "stage b: each: tasks: 3 but a has 2"
