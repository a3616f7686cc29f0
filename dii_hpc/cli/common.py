"""What every command decides the same way: which store it works on, and how JSON is written.

Which store: ``--store`` (or ``$DII_HPC_STORE``, else ``./dii-store``), resolved by
`Store()`. A command that reads needs it to exist: a mistyped ``--store`` is one line and
exit 2, not an empty listing (and a read never creates a store at a typo). A command that
writes may create it. JSON: the store's one strict encoder (`store.atomic.dumps`), so that
``--format json`` is standard JSON (non-finite numbers as "nan"/"inf" strings, numpy values
as numbers) whatever the command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


def store(*, write: bool = False, path: str | None = None) -> Store:
    """The store a command works on; ``write``: the command may create it. ``path``: a store
    named by the command itself (`store merge SRC DST`) instead of ``--store``."""
    from dii_hpc.store.store import Store

    chosen = Store(path)
    return chosen if write else chosen.require()


def to_json(obj: Any) -> str:
    """``obj`` as the CLI writes JSON: standard, indented."""
    from dii_hpc.store.atomic import dumps

    return dumps(obj, indent=1).decode()
