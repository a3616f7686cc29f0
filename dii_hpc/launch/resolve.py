"""Resolve "module:Class" references and check required methods before anything runs.

Errors are one sentence naming the module, the attribute or the missing method, raised at
submit time so that nothing is queued for a class that cannot work.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from dii_hpc.errors import BadInput


def split_ref(ref: str) -> tuple[str, str]:
    """'pkg.mod:Class' or 'pkg.mod.Class' -> ('pkg.mod', 'Class')."""
    if ":" in ref:
        module, _, attr = ref.partition(":")
    else:
        module, _, attr = ref.rpartition(".")
    if not module or not attr:
        raise BadInput(f"{ref!r} is not a 'module:Class' reference")
    return module, attr


def _cwd_importable() -> None:
    """User modules next to the config resolve from the console script too, as in the job
    (which runs `python -m ...` from the submission directory).  Appended: never shadows."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)


def resolve(ref: str, method: str | None = None, what: str = "class") -> Any:
    """Import the module, get the attribute, check it has ``method`` (when given)."""
    module_name, attr = split_ref(ref)
    _cwd_importable()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        missing = err.name or module_name
        raise BadInput(f"{what} {ref!r}: cannot import module {missing!r}") from None
    except Exception as err:  # noqa: BLE001 - a user module that fails on import
        raise BadInput(f"{what} {ref!r}: importing {module_name!r} failed: "
                       f"{type(err).__name__}: {err}") from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise BadInput(f"{what} {ref!r}: module {module_name!r} has no attribute {attr!r}") from None
    if method is not None and not callable(getattr(obj, method, None)):
        raise BadInput(f"{what} {ref!r} has no method {method!r}, which a {what} must define")
    return obj
