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


def parse_override(text: str) -> tuple[list[str], Any]:
    """'models.cnn.params.width=32' -> (['models','cnn','params','width'], 32) (YAML-typed)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text}: expected key.path=value")
    data, _ = yamlio.loads(value, f"--set {key}") if value.strip() else (None, {})
    return key.strip().split("."), ("" if data is None and value.strip() == "" else data)


def apply_override(raw: dict[str, Any], path: list[str], value: Any, where: str) -> None:
    """Set raw[path] = value; parents must exist and be mappings (typos surface as errors)."""
    node: Any = raw
    for i, part in enumerate(path[:-1]):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{where}: {'.'.join(path[: i + 1])}: no such key in the config")
        node = node[part]
    if not isinstance(node, dict):
        raise ConfigError(f"{where}: {'.'.join(path[:-1])}: is not a mapping")
    node[path[-1]] = value


def validate(raw: Any, source: str = "<dict>",
             lines: dict[yamlio.KeyPath, int] | None = None) -> ExperimentConfig:
    """Validate a plain dict; the first error names its key path and (when known) file line."""
    from pydantic import ValidationError

    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping (experiment:, models:, ...)")
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(explain(err, ExperimentConfig, source=source, lines=lines)) from err


def load_config(path: str | Path, overrides: list[str] | None = None) -> LoadedConfig:
    """Read, override and validate a config file."""
    raw, lines = yamlio.load(path)
    return from_dict(raw, overrides, source=str(path), lines=lines)


def from_dict(raw: Any, overrides: list[str] | None = None, source: str = "<dict>",
              lines: dict[yamlio.KeyPath, int] | None = None) -> LoadedConfig:
    """Same as load_config for an in-memory dict (e.g. a run's saved resolved config)."""
    raw = copy.deepcopy(raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping (experiment:, models:, ...)")
    for text in overrides or []:
        key_path, value = parse_override(text)
        apply_override(raw, key_path, value, f"--set {text}")
    config = validate(raw, source, lines)
    return LoadedConfig(config=config, raw=raw, source=source, lines=lines or {})
