"""Slurm's hostlist syntax (`node[1-3,7],gpu-[01-02]-a`) expanded into host names (pure).

A task needs the first node of its allocation (the rendezvous host of a distributed job) and
run.json records every node; `scontrol show hostnames` gives the same list but costs a process
per rank, and the syntax is small: comma-separated items, each with any number of bracketed
ranges whose zero padding is kept (`[08-10]` -> 08, 09, 10), combined as a cartesian product.
"""

from __future__ import annotations

import itertools
import re

from dii_hpc.errors import BadInput

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _split_top(text: str) -> list[str]:
    """Split at commas that are not inside brackets."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise BadInput(f"node list {text!r}: ']' without '['")
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if depth:
        raise BadInput(f"node list {text!r}: '[' without ']'")
    items.append(text[start:])
    return [item for item in (s.strip() for s in items) if item]


def _expand_ranges(inner: str, text: str) -> list[str]:
    out: list[str] = []
    for part in inner.split(","):
        m = _RANGE.match(part.strip())
        if not m:
            raise BadInput(f"node list {text!r}: {part!r} is not a number or a range")
        lo, hi = m.group(1), m.group(2) or m.group(1)
        if int(hi) < int(lo):
            raise BadInput(f"node list {text!r}: range {part!r} goes down")
        width = len(lo) if lo.startswith("0") else 0
        out += [str(n).zfill(width) for n in range(int(lo), int(hi) + 1)]
    return out


def _expand_item(item: str, text: str) -> list[str]:
    pieces: list[list[str]] = []
    for literal, inner in re.findall(r"([^\[]*)(?:\[([^\]]*)\])?", item):
        if literal:
            pieces.append([literal])
        if inner:
            pieces.append(_expand_ranges(inner, text))
    return ["".join(combo) for combo in itertools.product(*pieces)]


def expand(text: str) -> list[str]:
    """Every host of a Slurm node list, in Slurm's order; '' and '(null)' give []."""
    text = (text or "").strip()
    if not text or text in ("(null)", "None"):
        return []
    hosts: list[str] = []
    for item in _split_top(text):
        hosts += _expand_item(item, text)
    return hosts


def first(text: str) -> str | None:
    """The first host of a node list (the batch host of a job), None for an empty list."""
    hosts = expand(text)
    return hosts[0] if hosts else None
