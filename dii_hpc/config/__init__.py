"""Experiment configs: YAML with line-aware errors, typed validation, overrides, sweeps.

Names load lazily: `dii_hpc.config.refs` (which audit, drift and inference use) must not pull
in pydantic and the schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dii_hpc import _lazy

_LAZY = {
    "LoadedConfig": "dii_hpc.config.load",
    "from_dict": "dii_hpc.config.load",
    "load_config": "dii_hpc.config.load",
    "SweepPoint": "dii_hpc.config.sweep",
    "apply_point": "dii_hpc.config.sweep",
    "check_keys": "dii_hpc.config.sweep",
    "expand": "dii_hpc.config.sweep",
}
__all__ = ["LoadedConfig", "SweepPoint", "apply_point", "check_keys", "expand", "from_dict",
           "load_config"]

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.config.load import LoadedConfig, from_dict, load_config
    from dii_hpc.config.sweep import SweepPoint, apply_point, check_keys, expand


def __getattr__(name: str) -> Any:
    return _lazy.load(globals(), _LAZY, name)
