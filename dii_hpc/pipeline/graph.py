"""The stage graph: unknown needs, cycles (named, stage by stage), order, reachability.

Pure functions over ``{stage: needs}``; the order is topological and otherwise keeps the
file's order, so that submission, status tables and the report list stages as written.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.records.pipeline import StageRecord


def check_known(needs: Mapping[str, Sequence[str]]) -> None:
    """A stage that needs a stage the file does not have is one line naming both."""
    for stage, wanted in needs.items():
        for need in wanted:
            if need not in needs:
                close = difflib.get_close_matches(need, list(needs), n=1, cutoff=0.5)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ConfigError(f"stage {stage}: needs unknown stage {need!r}{hint}; "
                                  f"stages: {', '.join(needs)}")


def find_cycle(needs: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle as its stages in order, first one repeated at the end, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in needs:
        if state.get(root):
            continue
        path: list[str] = [root]
        stack = [iter(needs[root])]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(child) == 1:
                return [*path[path.index(child):], child]
            if not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append(iter(needs.get(child, ())))
    return None


def order(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """Stages so that each comes after what it needs; ConfigError on unknown needs or a cycle.

    The cycle is given as the user reads it: a needs b needs a -> "a -> b -> a"."""
    check_known(needs)
    cycle = find_cycle(needs)
    if cycle is not None:
        raise ConfigError(f"stage {cycle[0]}: cycle in needs: {' -> '.join(cycle)}")
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(needs):
        for stage, wanted in needs.items():
            if stage not in placed and all(w in placed for w in wanted):
                done.append(stage)
                placed.add(stage)
                break
    return done


def descendants(needs: Mapping[str, Sequence[str]], roots: Iterable[str]) -> set[str]:
    """Every stage that needs one of ``roots``, directly or not (roots excluded)."""
    below: dict[str, list[str]] = {s: [] for s in needs}
    for stage, wanted in needs.items():
        for need in wanted:
            below[need].append(stage)
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        for child in below.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def ancestors(needs: Mapping[str, Sequence[str]], stage: str) -> list[str]:
    """What ``stage`` needs, directly or not, nearest first."""
    seen: list[str] = []
    todo = list(needs.get(stage, ()))
    while todo:
        need = todo.pop(0)
        if need not in seen:
            seen.append(need)
            todo += list(needs.get(need, ()))
    return seen


def depths(needs: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Longest path from a stage that needs nothing (the report draws a column per depth)."""
    out: dict[str, int] = {}
    for stage in order(needs):
        out[stage] = 1 + max((out[n] for n in needs[stage]), default=-1)
    return out


def reason(needs: dict[str, tuple[str, ...]], recs: dict[str, StageRecord],
           name: str) -> str | None:
    """Why ``name`` cannot run: the nearest stage above it that failed (else one cancelled)."""
    above = [a for a in ancestors(needs, name)
             if a in recs and recs[a].state in vocab.UNSUCCESSFUL]
    failed = [a for a in above if recs[a].state != vocab.CANCELLED] or above
    if not failed:
        return None
    first = recs[failed[0]]
    return f"needs {failed[0]}, which {first.state}" + (
        f": {first.error}" if first.error else "")
