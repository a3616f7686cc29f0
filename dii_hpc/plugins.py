"""One registry per plug-in family: attacks, suites, stat tests, pipeline stage kinds.

Why one mechanism: a capability used to be a string switch repeated in four to six files, and
the copies drifted apart. Now each capability is one *record* (an `AttackSpec`, a `Suite`, a
`StatTest`, a `StageKind`) and every place that needs it looks it up here by name.

Where records come from, in this order (a later source may not reuse a name):
1. built-ins: every module of the family's built-in packages that defines module-level records
   of the family's type (so adding a built-in is adding one file: nothing else lists it);
2. entry points of the family's group (``dii_hpc.attacks``, ``dii_hpc.suites``,
   ``dii_hpc.stattests``, ``dii_hpc.stages``): each names a record, a list of records, or a
   callable returning either, exactly as pytest and Optuna plug-ins are found;
3. ``register(record)`` from Python (a user's own code in the same process).

Nothing is imported until a family is first asked for, and a plug-in that fails to load is named
in one line (BadInput) rather than breaking every listing with a traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from dii_hpc.errors import BadInput, NotFound

BUILTIN = "dii-hpc"


_FAMILIES: list[Family[Any]] = []


def reset_all() -> None:
    """Every family reads its built-ins and entry points again on next use (after a plug-in
    package was installed into this process's path)."""
    for family in _FAMILIES:
        family.reset()


class Named(Protocol):
    """What every plug-in record has: the name users type."""

    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A record and where it came from (``dii-hpc`` or ``DIST VERSION (module:attr)``)."""

    record: T
    origin: str


class Family(Generic[T]):
    """The registry of one plug-in family.

    ``kind`` is the record class (records are recognised by ``isinstance``), ``packages`` the
    built-in packages scanned for records, ``group`` the entry-point group users extend.
    ``key`` names a record in the registry (its ``name`` unless a family needs more: an attack
    is named by its name and its engine).
    """

    def __init__(self, what: str, kind: type[T], group: str, packages: Iterable[str],
                 key: Callable[[T], str] | None = None) -> None:
        self.what, self.kind, self.group = what, kind, group
        self.packages = tuple(packages)
        self.key: Callable[[T], str] = key or (lambda record: record.name)
        _FAMILIES.append(self)
        self._entries: dict[str, Entry[T]] | None = None
        self._added: list[Entry[T]] = []

    # ---- lookup -------------------------------------------------------------------------
    def get(self, name: str) -> T:
        """The record called ``name``; unknown names are one line with close suggestions."""
        entries = self.entries()
        if name not in entries:
            raise NotFound(self.what, name, list(entries))
        return entries[name].record

    def find(self, name: str) -> T | None:
        entry = self.entries().get(name)
        return entry.record if entry else None

    def names(self) -> list[str]:
        return list(self.entries())

    def records(self, where: Callable[[T], bool] | None = None) -> list[T]:
        return [e.record for e in self.entries().values() if where is None or where(e.record)]

    def __iter__(self) -> Iterator[T]:
        return iter(self.records())

    def __contains__(self, name: object) -> bool:
        return name in self.entries()

    def entries(self) -> dict[str, Entry[T]]:
        """Every record by name, built-ins first, loaded once per process."""
        if self._entries is None:
            found: dict[str, Entry[T]] = {}
            for entry in (*self._builtins(), *self._entry_points()):
                self._add(found, entry)
            self._entries = found
        for entry in self._added:
            if self.key(entry.record) not in self._entries:
                self._add(self._entries, entry)
        return self._entries

    # ---- extension ----------------------------------------------------------------------
    def register(self, record: T, origin: str = "python") -> T:
        """Add ``record`` for this process (the Python way to extend a family)."""
        self._check(record, origin)
        self._added.append(Entry(record, origin))
        if self._entries is not None:
            self._add(self._entries, self._added[-1])
        return record

    def reset(self) -> None:
        """Forget what was loaded (a test that installed a plug-in reads the entry points again)."""
        self._entries, self._added = None, []

    # ---- loading ------------------------------------------------------------------------
    def _add(self, found: dict[str, Entry[T]], entry: Entry[T]) -> None:
        name = self.key(entry.record)
        if name in found:
            raise BadInput(f"{self.what} {name!r} of {entry.origin} is already defined by "
                           f"{found[name].origin}; rename one of them")
        found[name] = entry

    def _check(self, record: Any, origin: str) -> None:
        if not isinstance(record, self.kind):
            raise BadInput(f"{origin}: {record!r} is not a {self.kind.__name__} "
                           f"(plug-ins of {self.group} are {self.kind.__name__} records)")

    def _builtins(self) -> list[Entry[T]]:
        out: list[Entry[T]] = []
        for package in self.packages:
            pkg = importlib.import_module(package)
            names = [package] + [f"{package}.{m.name}" for m in
                                 sorted(pkgutil.iter_modules(getattr(pkg, "__path__", [])),
                                        key=lambda m: m.name) if not m.name.startswith("_")]
            for module_name in names:
                module = importlib.import_module(module_name)
                for value in vars(module).values():
                    if isinstance(value, self.kind):
                        out.append(Entry(value, BUILTIN))
        seen: set[int] = set()  # a record imported into a second module is still one record
        unique = []
        for entry in out:
            if id(entry.record) not in seen:
                seen.add(id(entry.record))
                unique.append(entry)
        return unique

    def _entry_points(self) -> list[Entry[T]]:
        from importlib.metadata import entry_points

        out: list[Entry[T]] = []
        for ep in sorted(entry_points(group=self.group), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            origin = (f"{dist.name} {dist.version} ({ep.value})" if dist is not None
                      else f"entry point {ep.value}")
            try:
                loaded = ep.load()
                values = loaded() if callable(loaded) and not isinstance(loaded, self.kind) \
                    else loaded
            except Exception as err:  # noqa: BLE001 - a broken plug-in is named, not fatal
                raise BadInput(f"{self.group} plug-in {ep.name} ({ep.value}) failed to load: "
                               f"{type(err).__name__}: {err}") from err
            records = values if isinstance(values, (list, tuple)) else [values]
            for record in records:
                self._check(record, origin)
                out.append(Entry(record, origin))
        return out
