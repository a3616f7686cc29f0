"""What `dii-hpc audit list` shows: every installed suite, standard and attack, from the
records (`specs`), with where each came from (``dii-hpc`` or a plug-in's distribution)."""

from __future__ import annotations

from dataclasses import dataclass

from dii_hpc.audit.model.protocols import Task


@dataclass(frozen=True)
class Row:
    """One attack name over its engines."""

    name: str
    threat: str
    engines: tuple[str, ...]
    tasks: tuple[str, ...]  # Task.short names
    origin: str
    doc: str


def attacks() -> list[Row]:
    """One row per attack name, in the order the records were found (built-ins first)."""
    from dii_hpc.audit.specs import ATTACKS

    rows: dict[str, list[tuple[str, str, str, tuple[str, ...], str]]] = {}
    for entry in ATTACKS.entries().values():
        spec = entry.record
        box = f"{spec.box}-box  " if spec.box else ""
        rows.setdefault(spec.name, []).append((spec.threat, spec.engine, box + spec.doc,
                                               spec.tasks, entry.origin))
    out = []
    for name, found in rows.items():
        tasks = [t for t in Task if any(t.value in f[3] for f in found)]
        origins = list(dict.fromkeys(f[4] for f in found))
        out.append(Row(name, found[0][0], tuple(f[1] for f in found),
                       tuple(t.short for t in tasks), "; ".join(origins), found[0][2]))
    return out


def suites() -> list[tuple[str, str, str, str]]:
    """(name, threat, origin, doc) of every suite and standard."""
    from dii_hpc.audit.specs import SUITES

    return [(e.record.name + (" (standard)" if e.record.standard else ""), e.record.threat,
             e.origin, e.record.doc) for e in SUITES.entries().values()]


def standards() -> list[tuple[str, str, list[str]]]:
    """(name, the suite it is a standard of, the lines describing it) of every standard
    (``suite THREAT --standard NAME``)."""
    from dii_hpc.audit.specs import suites as of

    return [(s.name, s.threat, s.listing() if s.listing else [s.doc])
            for s in of(standards=True)]


def engines() -> list[tuple[str, list[str]]]:
    """(engine, the attacks it runs) of every engine (``--engine``)."""
    from dii_hpc.audit.specs import ATTACKS
    from dii_hpc.audit.specs import engines as names

    return [(e, [s.name for s in ATTACKS if s.engine == e]) for e in names()]
