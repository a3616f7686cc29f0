"""Config loading: typed validation, errors with key path AND file line, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.config import load_config
from dii_hpc.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
experiment: t
models:
  m: {class: "pkg.mod:Model", params: {width: 4}}
datasets:
  d: {class: "pkg.mod:Data"}
params: {lr: 0.1}
resources:
  time: "00:05:00"
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_shipped_configs_validate() -> None:
    for name in ("sweep.yaml", "random.yaml", "single.yaml"):
        loaded = load_config(ROOT / "configs" / name)
        assert loaded.config.models


def test_valid_and_defaults(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, BASE)).config
    assert cfg.models["m"].class_ == "pkg.mod:Model" and cfg.resources.cpus_per_task == 1
    assert cfg.executor.endswith(":Executor") and cfg.sweep.seeds == []


def test_unknown_key_names_path_and_line(tmp_path: Path) -> None:
    text = BASE.replace('  time: "00:05:00"', '  time: "00:05:00"\n  cpus_per_tsak: 2')
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    assert str(err.value) == (f"{tmp_path / 'c.yaml'}:9: resources.cpus_per_tsak: unknown key; "
                              "did you mean cpus_per_task?")


def test_wrong_type_names_path_and_line(tmp_path: Path) -> None:
    text = BASE + "  cpus_per_task: many\n"
    with pytest.raises(ConfigError, match=r"c.yaml:9: resources.cpus_per_task: .*integer"):
        load_config(_write(tmp_path, text))


def test_nested_unknown_key(tmp_path: Path) -> None:
    text = BASE.replace('{class: "pkg.mod:Data"}', '{class: "pkg.mod:Data", parms: {}}')
    with pytest.raises(ConfigError, match=r"c.yaml:5: datasets.d.parms: unknown key"):
        load_config(_write(tmp_path, text))


def test_missing_models_and_bad_time(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"models: required key is missing"):
        load_config(_write(tmp_path, "experiment: t\n"))
    with pytest.raises(ConfigError, match=r"c.yaml:8: resources.time: .*Slurm time"):
        load_config(_write(tmp_path, BASE.replace("00:05:00", "five minutes")))


def test_yaml_syntax_and_duplicates(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"c.yaml:3: invalid YAML"):
        load_config(_write(tmp_path, "experiment: t\nmodels: [\n"))
    with pytest.raises(ConfigError, match=r"c.yaml:2: experiment: duplicate key"):
        load_config(_write(tmp_path, "experiment: t\nexperiment: u\n"))
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")


def test_safe_loader_refuses_python_tags(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"c.yaml:9: tags: unsupported YAML tag"):
        load_config(_write(tmp_path, BASE + "tags: !!python/object/apply:os.system ['true']\n"))


def test_overrides(tmp_path: Path) -> None:
    loaded = load_config(_write(tmp_path, BASE), ["params.lr=0.5", "models.m.params.width=8",
                                                  "resources.partition=gpu", "+params.new=[1, 2]"])
    cfg = loaded.config
    assert cfg.params == {"lr": 0.5, "new": [1, 2]} and cfg.models["m"].params["width"] == 8
    assert cfg.resources.partition == "gpu"
    with pytest.raises(ConfigError, match=r"--set modls.m.params.width=3: modls: no such key"):
        load_config(_write(tmp_path, BASE), ["modls.m.params.width=3"])
    with pytest.raises(ConfigError, match="expected key.path=value"):
        load_config(_write(tmp_path, BASE), ["params.lr"])
    with pytest.raises(ConfigError, match=r"resources.cpus_per_task"):
        load_config(_write(tmp_path, BASE), ["resources.cpus_per_task=zero"])


PYDANTIC_WORDS = ("Value error", "Input should", "String should", "errors.pydantic.dev", "^[")


@pytest.mark.parametrize(("text", "expected"), [
    (BASE.replace("models:", "modles:"), ":2: modles: unknown key; did you mean models?"),
    (BASE.replace('time: "00:05:00"', 'tiem: "00:05:00"'), ":8: resources.tiem: unknown key; did you mean time?"),
    (BASE.replace("params: {width: 4}", "parms: {width: 4}"), ":3: models.m.parms: unknown key; did you mean params?"),
    (BASE.replace("experiment: t", "experiment: 'my exp'"), ":1: experiment: 'my exp' is not a valid name"),
    (BASE + "  cpus_per_task: 0\n", ":9: resources.cpus_per_task: 0 must be at least 1"),
    (BASE + "  cpus_per_task: many\n", ":9: resources.cpus_per_task: 'many' is not an integer"),
    (BASE + "  mem: lots\n", ":9: resources.mem: 'lots' is not a memory size (e.g. 2G, 512M)"),
    (BASE.replace("00:05:00", "bogus"), ":8: resources.time: 'bogus' is not a Slurm time (M, M:S"),
    (BASE + "sweep: {grid: {lr: []}}\n", ":9: sweep.grid: lr: needs at least one value"),
    (BASE + "setup: echo hi\n", ":9: setup: 'echo hi' must be a list"),
])
def test_pydantic_wording_never_reaches_users(tmp_path: Path, text: str, expected: str) -> None:
    """#14 item 11: one line naming key path and line, with a close key suggested."""
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    message = str(err.value)
    assert expected in message and "\n" not in message, message
    assert not any(word in message for word in PYDANTIC_WORDS), message


def test_explain_names_the_option_for_command_line_resources() -> None:
    from pydantic import ValidationError

    from dii_hpc.config.explain import explain
    from dii_hpc.config.schema import Resources

    options = {"time": "--time", "mem": "--mem", "cpus_per_task": "--cpus-per-task"}
    for kwargs, expected in (({"time": "bogus"}, "--time bogus: not a Slurm time (M, M:S, H:M:S, D-H, "
                                                 "D-H:M or D-H:M:S)"),
                             ({"mem": "lots"}, "--mem lots: not a memory size (e.g. 2G, 512M)"),
                             ({"cpus_per_task": 0}, "--cpus-per-task 0: must be at least 1")):
        with pytest.raises(ValidationError) as err:
            Resources(**kwargs)
        assert explain(err.value, Resources, options=options) == expected


def test_an_override_is_blamed_on_the_set_option_not_a_file_line(tmp_path: Path) -> None:
    """#14 item 13: `--set resources.time=bogus` blamed line 8, which it never changed."""
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, BASE), ["resources.time=bogus"])
    assert str(err.value).startswith("--set resources.time=bogus: resources.time: 'bogus' is not a Slurm time")
    with pytest.raises(ConfigError, match=r"^--set resources=\{cpus_per_task: 0\}: resources.cpus_per_task: "
                                          r"0 must be at least 1"):
        load_config(_write(tmp_path, BASE), ["resources={cpus_per_task: 0}"])


def test_a_new_free_form_key_needs_a_plus(tmp_path: Path) -> None:
    """#14 item 13: `--set params.newkey=1` was silently added while a sweep-key typo is
    refused; as in Hydra, adding a key takes `+key=value`."""
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, BASE), ["params.lrr=0.3"])
    assert str(err.value) == ("--set params.lrr=0.3: params.lrr: no such key in the config; did you "
                              "mean params.lr? (add a new key with --set +params.lrr=...)")
    with pytest.raises(ConfigError, match=r"models.m.params.widht: no such key"):
        load_config(_write(tmp_path, BASE), ["models.m.params.widht=3"])
    cfg = load_config(_write(tmp_path, BASE), ["+params.extra=1", "+models.m.params.depth=2"]).config
    assert cfg.params["extra"] == 1 and cfg.models["m"].params["depth"] == 2
    with pytest.raises(ConfigError, match=r"--set \+params.lr=1: params.lr: already in the config"):
        load_config(_write(tmp_path, BASE), ["+params.lr=1"])


def test_an_override_of_a_swept_key_is_refused(tmp_path: Path) -> None:
    """#14 item 13: `--set params.lr=0.3` silently lost to the grid."""
    text = BASE + "sweep: {grid: {lr: [0.1, 0.2]}, zip: {models.m.params.width: [1, 2]}}\n"
    for override, swept in (("params.lr=0.3", "sweep.grid.lr"),
                            ("models.m.params.width=8", "sweep.zip.models.m.params.width")):
        with pytest.raises(ConfigError) as err:
            load_config(_write(tmp_path, text), [override])
        key = override.split("=")[0]
        assert str(err.value) == (f"--set {override}: {key} is swept by {swept}, which would "
                                  f"overwrite it; set {swept} instead")
    loaded = load_config(_write(tmp_path, text), ["sweep.grid.lr=[0.3]"])
    assert loaded.config.sweep.grid == {"lr": [0.3]}
