"""Generic resources (GRES): `gpu:a100:2` as name, type and count (pure).

One parser serves the request a user writes (`resources.gres`) and what nodes declare
(`sinfo %G`: `gpu:a100:2(S:0-1),mps:100`), so checking one against the other compares like
with like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PART = re.compile(r"^[A-Za-z][A-Za-z0-9_\-.]*$")


@dataclass(frozen=True)
class Gres:
    """One generic resource: ``name`` (gpu, mps, ...), optional ``type`` (a100), ``count``."""

    name: str
    type: str | None = None
    count: int = 1

    def __str__(self) -> str:
        return ":".join([self.name, *([self.type] if self.type else []), str(self.count)])


def parse(text: str) -> Gres:
    """'gpu' / 'gpu:2' / 'gpu:a100' / 'gpu:a100:2' -> Gres; ValueError says what is wrong."""
    parts = str(text).strip().split(":")
    count = 1
    if len(parts) > 1 and parts[-1].isdigit():
        count = int(parts.pop())
    if not 1 <= len(parts) <= 2 or not all(_PART.match(p) for p in parts):
        raise ValueError(f"{text!r} is not a gres (NAME[:TYPE][:COUNT], e.g. gpu:a100:2)")
    if count < 1:
        raise ValueError(f"{text!r}: the count must be at least 1")
    return Gres(parts[0], parts[1] if len(parts) == 2 else None, count)


def parse_node(text: str) -> list[Gres]:
    """A node's Gres field ('gpu:a100:2(S:0-1),mps:100', '(null)') -> its resources."""
    text = (text or "").strip()
    if not text or text.startswith("(null)"):
        return []
    out: list[Gres] = []
    for item in re.split(r",(?![^(]*\))", text):
        item = re.sub(r"\(.*?\)", "", item).strip()
        if not item:
            continue
        try:
            out.append(parse(item))
        except ValueError:
            continue  # a field we do not understand never blocks a submission
    return out


def count_on_node(node: list[Gres], name: str, type_: str | None = None) -> int:
    """How many of ``name`` (of ``type_`` when given) a node has."""
    return sum(g.count for g in node if g.name == name and (type_ is None or g.type == type_))
