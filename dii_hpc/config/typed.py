"""The one way a config file (or a mapping inside one) becomes a typed object.

Experiment, audit, drift, policy, pipeline and predict configs are all pydantic models; every
one is read here, so every error a user sees has the same shape, naming the file, the line
and the key path (``drift.yaml:4: alpha: 'abc' is not a number``), and pydantic's own wording
never reaches users (`config.explain`). Options given on the command line are named as the
option (``--alpha abc: is not a number``) through ``options``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dii_hpc.config import yamlio
from dii_hpc.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")


def read(path: str | Path) -> tuple[dict[str, Any], dict[yamlio.KeyPath, int]]:
    """A YAML file that must be a mapping, with the line of every key path."""
    raw, lines = yamlio.load(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping (KEY: VALUE lines)")
    return raw, lines


def validate(model: type[M], raw: Any, *, source: str | None = None,
             lines: dict[yamlio.KeyPath, int] | None = None, prefix: tuple[Any, ...] = (),
             options: dict[str, str] | None = None,
             blame: dict[yamlio.KeyPath, str] | None = None) -> M:
    """``raw`` validated as ``model``; the first error is one line (file, line, key path).

    ``prefix`` is where ``raw`` sits in the file (``("drift",)`` for a ``drift:`` section),
    so that lines are found and keys named from the file's root.
    """
    from pydantic import ValidationError

    from dii_hpc.config.explain import explain

    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        where = f"{source}: " if source else ""
        key = f"{yamlio.dotted(prefix)} " if prefix else "the config "
        raise ConfigError(f"{where}{key}must be a mapping")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(explain(err, model, source=source, lines=lines, options=options,
                                  blame=blame, prefix=prefix)) from err


def load(model: type[M], path: str | Path, *, section: str | None = None,
         overrides: dict[str, Any] | None = None,
         options: dict[str, str] | None = None) -> M:
    """``model`` from the YAML file ``path`` (its ``section:`` mapping when the file has one),
    with ``overrides`` (field -> value, e.g. from command-line options) applied on top."""
    raw, lines = read(path)
    prefix: tuple[Any, ...] = ()
    if section and isinstance(raw.get(section), dict):
        raw, prefix = raw[section], (section,)
    merged = {**raw, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    given = {k: options[k] for k in (overrides or {}) if options and k in options
             and (overrides or {}).get(k) is not None}
    return validate(model, merged, source=str(path), lines=lines, prefix=prefix,
                    options=given or None)
