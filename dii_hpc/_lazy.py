"""Package attributes that load their module on first use (PEP 562 ``__getattr__``).

`import dii_hpc` and `import dii_hpc.config.refs` must stay cheap: pandas, zarr, pydantic and
torch load only when a name that needs them is first touched.
"""

from __future__ import annotations

import importlib
from typing import Any


def load(namespace: dict[str, Any], table: dict[str, str], name: str,
         submodules: tuple[str, ...] = ()) -> Any:
    """The attribute ``name`` from the module ``table`` names for it, cached in ``namespace``.

    A name in ``submodules`` is the package's own submodule (``dii_hpc.distributed`` usable
    after a plain ``import dii_hpc``), imported on first touch like the rest.
    """
    if name in submodules:
        return importlib.import_module(f"{namespace['__name__']}.{name}")
    module = table.get(name)
    if module is None:
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    namespace[name] = value
    return value
