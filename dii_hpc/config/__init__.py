"""Experiment configs: YAML with line-aware errors, typed validation, overrides, sweeps."""

from __future__ import annotations

from dii_hpc.config.load import LoadedConfig, from_dict, load_config
from dii_hpc.config.sweep import SweepPoint, apply_point, check_keys, expand

__all__ = ["LoadedConfig", "SweepPoint", "apply_point", "check_keys", "expand", "from_dict",
           "load_config"]
