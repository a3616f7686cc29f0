"""YAML file + `--set key.path=value` overrides -> validated ExperimentConfig.

Every error is one line: "<file>:<line>: <key.path>: <what is wrong>", so a user can jump to it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dii_hpc.config import yamlio
from dii_hpc.config.explain import explain
from dii_hpc.config.schema import ExperimentConfig
from dii_hpc.errors import ConfigError


@dataclass
class LoadedConfig:
    """The validated config plus what is needed to explain it and re-create it later."""

    config: ExperimentConfig
    raw: dict[str, Any]                      # the plain dict after overrides (what was validated)
    source: str = "<dict>"
    lines: dict[yamlio.KeyPath, int] = field(default_factory=dict)
    folder: str | None = None                # the config file's folder: its modules live there

    @property
    def search(self) -> list[str]:
        """Where the config's "module:Class" references are looked for after sys.path."""
        return [self.folder] if self.folder else []


def parse_override(text: str) -> tuple[list[str], Any, bool]:
    """'models.cnn.params.width=32' -> (['models','cnn','params','width'], 32, False)
    (YAML-typed); a leading '+' (as in Hydra) adds a key that is not in the config yet."""
    key, sep, value = text.partition("=")
    add = key.startswith("+")
    key = key.removeprefix("+")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text}: expected key.path=value")
    data, _ = yamlio.loads(value, f"--set {key}") if value.strip() else (None, {})
    return key.strip().split("."), ("" if data is None and value.strip() == "" else data), add


def apply_override(raw: dict[str, Any], path: list[str], value: Any, where: str,
                   add: bool = False) -> None:
    """Set raw[path] = value; parents must exist and be mappings (typos surface as errors).

    A new key inside a free-form mapping (params:, a model's params:) needs ``add`` (`+key`):
    nothing else would catch a typo there, which would run a sweep that changes nothing.
    Keys of the schema's own sections may be new (validation names a typo among them)."""
    from dii_hpc.config.explain import model_at, suggest

    node: Any = raw
    for i, part in enumerate(path[:-1]):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{where}: {'.'.join(path[: i + 1])}: no such key in the config")
        node = node[part]
    if not isinstance(node, dict):
        raise ConfigError(f"{where}: {'.'.join(path[:-1])}: is not a mapping")
    dotted, last = ".".join(path), path[-1]
    if add and last in node:
        raise ConfigError(f"{where}: {dotted}: already in the config (drop the +)")
    if not add and last not in node and model_at(ExperimentConfig, tuple(path[:-1])) is None:
        close = suggest(last, [str(k) for k in node])
        hint = f"; did you mean {'.'.join([*path[:-1], close])}?" if close else ""
        raise ConfigError(f"{where}: {dotted}: no such key in the config{hint} "
                          f"(add a new key with --set +{dotted}=...)")
    node[last] = value


def check_not_swept(raw: dict[str, Any], overridden: dict[yamlio.KeyPath, str]) -> None:
    """An override of a key the sweep sets would be overwritten by every task: refuse it."""
    from dii_hpc.config.sweep import key_path

    given = raw.get("sweep")
    sweep: dict[str, Any] = given if isinstance(given, dict) else {}
    random: dict[str, Any] = sweep["random"] if isinstance(sweep.get("random"), dict) else {}
    swept: dict[yamlio.KeyPath, str] = {}
    for section, keys in (("grid", sweep.get("grid")), ("zip", sweep.get("zip")),
                          ("random.params", random.get("params"))):
        for key in keys if isinstance(keys, dict) else {}:
            swept[tuple(key_path(str(key)))] = f"sweep.{section}.{key}"
    if sweep.get("seeds"):
        swept[("params", "seed")] = "sweep.seeds"
    for path, where in overridden.items():
        if path in swept:
            raise ConfigError(f"{where}: {'.'.join(map(str, path))} is swept by {swept[path]}, "
                              f"which would overwrite it; set {swept[path]} instead")


def validate(raw: Any, source: str = "<dict>",
             lines: dict[yamlio.KeyPath, int] | None = None,
             overridden: dict[yamlio.KeyPath, str] | None = None) -> ExperimentConfig:
    """Validate a plain dict; the first error names its key path and (when known) file line,
    or the ``--set`` that gave the key (``overridden``: key path -> "--set k=v")."""
    from pydantic import ValidationError

    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping (experiment:, models:, ...)")
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(explain(err, ExperimentConfig, source=source, lines=lines,
                                  blame=overridden)) from err


def load_config(path: str | Path, overrides: list[str] | None = None) -> LoadedConfig:
    """Read, override and validate a config file."""
    raw, lines = yamlio.load(path)
    return from_dict(raw, overrides, source=str(path), lines=lines,
                     folder=str(Path(path).resolve().parent))


def from_dict(raw: Any, overrides: list[str] | None = None, source: str = "<dict>",
              lines: dict[yamlio.KeyPath, int] | None = None,
              folder: str | None = None) -> LoadedConfig:
    """Same as load_config for an in-memory dict (e.g. a run's saved resolved config)."""
    raw = copy.deepcopy(raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping (experiment:, models:, ...)")
    overridden: dict[yamlio.KeyPath, str] = {}
    for text in overrides or []:
        key_path, value, add = parse_override(text)
        apply_override(raw, key_path, value, f"--set {text}", add)
        overridden[tuple(key_path)] = f"--set {text}"
    check_not_swept(raw, overridden)
    config = validate(raw, source, lines, overridden)
    return LoadedConfig(config=config, raw=raw, source=source, lines=lines or {}, folder=folder)
