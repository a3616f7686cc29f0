"""Sample shards: one attack's randomness blocks split over several Slurm array tasks.

A suite shard (`attack-pgd`, `curve-0.1`, `attack-mi_label_only`) normally runs in one
task. With `sample_shards: k` in the config, a shard whose work is one blocked generation
(`randomness.generate_blocks`) becomes k tasks `attack-pgd@0of2`, `attack-pgd@1of2`, each
generating its contiguous run of blocks (`randomness.owned`) into the job's checkpoint.
The merge step computes the shard as usual; its generator (`reader`) finds every part in
the checkpoint and concatenates them, so nothing is generated twice and the numbers are
those of one process (each block has its own seed whoever computes it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.audit.core.checkpoint import Checkpoint


def key(shard: str, part: int, parts: int) -> str:
    return f"{shard}@{part}of{parts}"


def split(task_key: str) -> tuple[str, tuple[int, int] | None]:
    """"attack-pgd@1of2" -> ("attack-pgd", (1, 2)); "attack-pgd" -> ("attack-pgd", None)."""
    shard, sep, part = task_key.partition("@")
    if not sep:
        return shard, None
    i, _, k = part.partition("of")
    return shard, (int(i), int(k))


def plan(shards: list[str], parts: int, blocked: Any, done: list[str]) -> list[str]:
    """The task keys still to compute: whole shards, or the missing parts of blocked ones
    (`blocked(shard)` says which shards are one blocked generation)."""
    out = []
    for shard in shards:
        if shard in done:
            continue
        if parts > 1 and blocked(shard):
            out += [k for k in (key(shard, i, parts) for i in range(parts)) if k not in done]
        else:
            out.append(shard)
    return out


def writer(ck: Checkpoint, shard: str, part: int, parts: int) -> Any:
    """A generator that computes only this part's blocks and saves them under `ck`.

    It returns x itself where other parts' blocks belong: the part task's own scoring is
    thrown away (the task runs the shard against a checkpoint that saves nothing)."""
    from dii_hpc.audit.core import randomness
    from dii_hpc.audit.evasion import generate as evasion

    def generate(attack: Any, x: np.ndarray, y: Any, seed: int, label: str) -> np.ndarray:
        ids = randomness.owned(len(x), part, parts)
        x_adv = evasion.generate(attack, x, y, seed, label, ids)
        ck.save(key(shard, part, parts), {"n": len(x), "blocks": ids}, {"x_adv": x_adv})
        full = np.array(x, dtype=np.float32, copy=True)
        spans = randomness.blocks(len(x))
        if ids:
            full[spans[ids[0]][0]:spans[ids[-1]][1]] = x_adv
        return full

    return generate


def reader(ck: Checkpoint, shard: str, fallback: Any = None) -> Any:
    """A generator that concatenates the saved parts of `shard`; without a complete set
    of parts for these samples it generates as usual (`fallback` or evasion.generate)."""
    from dii_hpc.audit.evasion import generate as evasion

    found = [part for k in ck.done() if (part := split(k))[0] == shard and part[1] is not None]
    parts = found[0][1][1] if found and found[0][1] is not None else 0
    if not parts:
        return fallback

    def generate(attack: Any, x: np.ndarray, y: Any, seed: int, label: str) -> np.ndarray:
        loaded = [hit for i in range(parts) if (hit := ck.load(key(shard, i, parts))) is not None]
        if len(loaded) == parts and all(hit[0]["n"] == len(x) for hit in loaded):
            return np.concatenate([hit[1]["x_adv"] for hit in loaded]).astype(np.float32)
        return (fallback or evasion.generate)(attack, x, y, seed, label)

    return generate
