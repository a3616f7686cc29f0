"""Pipeline files: shapes, one-line errors that name the stage, implicit needs, paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.errors import ConfigError
from dii_hpc.pipeline import spec


def _parse(stages: dict, **top: object) -> spec.Pipeline:
    return spec.parse({"pipeline": "p", "stages": stages, **top}, "p.yaml")


def test_the_issue_example_parses_with_its_implicit_needs(tmp_path: Path) -> None:
    p = _parse({
        "train": {"sweep": "configs/quickstart.yaml"},
        "best": {"select": {"from": "train", "metric": "val_acc", "mode": "max"}},
        "evasion": {"audit": "configs/audit-digits-suite.yaml", "suite": "evasion",
                    "model_from": "best", "needs": ["best"]},
        "gate": {"promote": {"name": "digits", "to": "champion", "policy": "configs/policy.yaml"},
                 "needs": ["evasion"]},
        "site": {"report": {}, "needs": ["gate"]},
    })
    assert [s.kind for s in p.stages.values()] == ["sweep", "select", "audit", "promote", "report"]
    assert p.stages["best"].needs == ("train",)  # select.from is needed without saying so
    assert p.stages["evasion"].needs == ("best",)
    assert Path(p.stages["train"].value).is_absolute()
    assert p.stages["gate"].resources == spec.STAGE_DEFAULTS


def test_roundtrip_through_the_saved_record() -> None:
    p = _parse({"a": {"command": ["echo", "{work}"], "tasks": 2},
                "b": {"report": None, "needs": "a", "resources": {"time": "5"}}})
    again = spec.Pipeline.from_dict(p.to_dict())
    assert again == p and again.stages["b"].needs == ("a",)
    assert again.stages["b"].resources["time"] == "5"
    assert again.stages["a"].value == ["echo", "{work}"]  # placeholders are filled at run time


@pytest.mark.parametrize("stages,message", [
    ({"a": {"needs": []}}, "stage a: p.yaml: no kind; a stage has exactly one of audit, command, gate"),
    ({"a": {"sweep": "x.yaml", "command": "true"}}, "stage a: p.yaml: two kinds: sweep, command"),
    ({"a": {"command": "true", "suite": "evasion"}},
     "stage a: p.yaml: suite: unknown key; known keys: command, needs, resources, setup, "
     "tasks, each"),
    ({"a": {"select": {"from": "t"}}}, "stage a: p.yaml: select.metric: required key is missing"),
    ({"a": {"select": {"from": "t", "metric": "m", "mode": "best"}}},
     "stage a: p.yaml: select.mode: 'best' must be one of 'max' or 'min'"),
    ({"a": {"gate": {"name": "m", "policy": "p.yaml", "alias": "x"}}},
     "stage a: p.yaml: gate.alias: unknown key; known keys: name, policy, to"),
    ({"a": {"audit": "a.yaml"}}, "stage a: p.yaml: an audit stage names one `suite:`"),
    ({"a": {"audit": "a.yaml", "suite": "evasion", "attack": "pgd"}}, "names one `suite:`"),
    ({"a": {"command": 3}}, "stage a: p.yaml: command: a command line or a list"),
    ({"a": {"command": "x", "tasks": 0}}, "stage a: p.yaml: tasks: a positive integer, not 0"),
    ({"a": {"sweep": "x.yaml", "resources": {}}}, "a sweep's resources are its config's"),
    ({"a b": {"command": "x"}}, "stage a b: p.yaml: a stage name has letters, digits and -_. only"),
])
def test_bad_stages_are_one_line_naming_the_stage(stages: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _parse(stages)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="p.yaml: stage: unknown key; did you mean stages?"):
        spec.parse({"pipeline": "p", "stage": {}}, "p.yaml")
    with pytest.raises(ConfigError, match="pipeline: give the pipeline a name"):
        spec.parse({"stages": {"a": {"command": "x"}}}, "p.yaml")
    with pytest.raises(ConfigError, match="stages: a mapping"):
        spec.parse({"pipeline": "p", "stages": []}, "p.yaml")
    path = tmp_path / "p.yaml"
    path.write_text("pipeline: p\nstages:\n  a: {command: x}\n  b: {command: y, bogus: 1}\n")
    with pytest.raises(ConfigError, match=r"^stage b: .*p.yaml:4: bogus: unknown key; known keys: command, needs"):
        spec.load(path)


def test_paths_resolve_against_the_working_dir_then_the_file(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "sweep.yaml").write_text("{}")
    path = tmp_path / "sub" / "p.yaml"
    path.write_text("pipeline: p\nstages:\n  t: {sweep: sweep.yaml}\n  w: {audit: '{work}/a.yaml', suite: evasion}\n")
    monkeypatch.chdir(tmp_path)
    p = spec.load(path)
    assert p.stages["t"].value == str(tmp_path / "sub" / "sweep.yaml")
    assert p.stages["w"].value == "{work}/a.yaml"
