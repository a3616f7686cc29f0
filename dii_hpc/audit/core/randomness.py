"""Randomness that the audit's seed controls, identical under any sharding.

Why this module exists: ART draws random starts and estimates from numpy's and torch's
*global* generators (PGD/APGD random init, Square's squares, HopSkipJump's gradient
estimates), and HopSkipJump/Boundary even build an unseeded `np.random.RandomState()` per
sample. Two rules make every audit number a function of (config, seed) alone:

1. `seeded(s)` wraps each ART call: it seeds python's, numpy's and torch's global
   generators with `s`, makes ART's unseeded `RandomState()` draw its seed from that
   stream, and restores every generator's state afterwards (the caller's own draws are
   unaffected). Where ART offers a parameter (`random_state`, an attack model) it is passed
   `derive(seed, ...)` instead.
2. Attacks that draw randomness for a whole batch run per fixed block of samples:
   block b is samples [b*BLOCK, (b+1)*BLOCK), generated under `derive(seed, label, b)`.
   Block boundaries depend only on the sample order, never on the sharding, and shards
   (MPI ranks, Slurm array tasks) own whole blocks, so one process, `--mpi N` and a Slurm
   array give the same x_adv bit for bit. BLOCK equals the attacks' batch_size (128), so
   a blocked run makes the same ART batches as one call over all samples would.

Seeds are derived with numpy's SeedSequence (stable across processes and versions, unlike
`hash()`); `manifest` records the scheme and the seeds each attack used.
"""

from __future__ import annotations

import hashlib
import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

BLOCK = 128
SCHEME = ("block b of attack A on samples [b*block_size, (b+1)*block_size) runs under "
          "seed numpy.random.SeedSequence([seed, sha256(A)[:8], b]).generate_state(1)[0]; "
          "a whole-set call under SeedSequence([seed, sha256(A)[:8]])")
# ART modules that create an unseeded np.random.RandomState() inside their attacks.
_UNSEEDED = ("art.attacks.evasion.hop_skip_jump", "art.attacks.evasion.boundary",
             "art.attacks.evasion.brendel_bethge")


def derive(seed: int, *keys: int | str | float) -> int:
    """A 32-bit seed (what np.random.seed accepts) from the audit seed and keys."""
    words = [int(seed) % 2**63] + [_word(k) for k in keys]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def _word(key: int | str | float) -> int:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and key >= 0:
        return int(key)
    return int.from_bytes(hashlib.sha256(str(key).encode()).digest()[:8], "little")


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed the global generators for one ART call; restore them afterwards."""
    py, np_state = random.getstate(), np.random.get_state()
    torch = sys.modules.get("torch")  # never import torch for a numpy-only model
    torch_state = torch.get_rng_state() if torch is not None else None
    cuda = torch is not None and torch.cuda.is_initialized()
    cuda_state = torch.cuda.get_rng_state_all() if cuda and torch is not None else None
    patched = _patch_unseeded()
    random.seed(seed)
    np.random.seed(seed)
    if torch is not None:
        torch.manual_seed(seed)
    try:
        yield
    finally:
        for module, original in patched:
            module.np = original
        random.setstate(py)
        np.random.set_state(np_state)
        if torch is not None:
            torch.set_rng_state(torch_state)
            if cuda:
                torch.cuda.set_rng_state_all(cuda_state)


class _SeededRandomView:
    """numpy.random, except that `RandomState()` without a seed draws one from the
    (seeded) global stream instead of the OS entropy pool."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np.random, name)

    @staticmethod
    def RandomState(seed: Any = None) -> np.random.RandomState:  # noqa: N802 - numpy's name
        return np.random.RandomState(np.random.randint(2**31) if seed is None else seed)


class _NumpyView:
    """numpy with `random` replaced, installed only as the `np` of the _UNSEEDED modules
    (patching numpy itself would break isinstance checks in scikit-learn)."""

    random = _SeededRandomView()

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def _patch_unseeded() -> list[tuple[Any, Any]]:
    patched = []
    for name in _UNSEEDED:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "np"):
            patched.append((module, module.np))
            setattr(module, "np", _NumpyView())  # noqa: B010 - a module attribute ART reads
    return patched


def seed_all(seed: int) -> None:
    """Seed the global generators without restoring them (callers outside `seeded`)."""
    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def blocks(n: int, size: int = BLOCK) -> list[tuple[int, int]]:
    """[(lo, hi)] of the fixed randomness blocks over n samples."""
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def owned(n: int, part: int, parts: int, size: int = BLOCK) -> list[int]:
    """The block ids that shard `part` of `parts` computes: a contiguous run of blocks."""
    ids = np.array_split(np.arange(len(blocks(n, size))), parts)
    return [int(b) for b in ids[part]]


def block_seeds(seed: int, label: str, n: int, size: int = BLOCK) -> list[int]:
    """The seed of every block of attack `label` over n samples (for records, manifests)."""
    return [derive(seed, label, b) for b in range(len(blocks(n, size)))]


def generate_blocks(call: Callable[[np.ndarray, Any], np.ndarray], x: np.ndarray, y: Any,
                    seed: int, label: str, ids: list[int] | None = None) -> np.ndarray:
    """`call(x_block, y_block)` per block (all, or only `ids`), each under its own seed;
    the blocks' outputs concatenated in block order."""
    spans = blocks(len(x))
    ids = list(range(len(spans))) if ids is None else ids
    out = []
    for b in ids:
        lo, hi = spans[b]
        with seeded(derive(seed, label, b)):
            out.append(np.asarray(call(x[lo:hi], None if y is None else y[lo:hi])))
    return np.concatenate(out) if out else np.zeros((0, *x.shape[1:]), np.float32)


def manifest(seed: int, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest's `randomness` entry: scheme, block size and each attack's seeds."""
    return {"seed": int(seed), "block_size": BLOCK, "scheme": SCHEME,
            "seeds": {str(r["name"]): r["seeds"] for r in records if "seeds" in r}}
