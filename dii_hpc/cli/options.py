"""Values of repeatable KEY=VALUE options (`--param`), parsed once for every command."""

from __future__ import annotations

from typing import Any

from dii_hpc.errors import BadInput


def key_values(items: list[str] | None, option: str = "--param") -> dict[str, Any]:
    """KEY=VALUE items, values parsed as YAML scalars (0.1 -> float, true -> bool, inf stays
    str); a malformed item is bad input naming the option."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"{option} {item!r}: expected KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value)
    return out
