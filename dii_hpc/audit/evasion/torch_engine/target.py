"""What the torch engine attacks: the audited `nn.Module`, its device, box and classes.

`of(model)` accepts anything shaped like `TorchModelWrapper` (a classifier exposing its
torch module as `.module`) and says in one line why another model cannot use the engine.
Random draws are per sample (`sample_noise`) or shared by every sample (`stream`), never
per batch, so an attack's outcome on one sample does not depend on which other samples
share its batch or its Slurm shard.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from dii_hpc.audit.model.protocols import Predictor
from dii_hpc.errors import BadInput

# Stable ids for the random streams of each attack (part of every per-sample seed).
TAGS = {"pgd": 1, "fgsm": 2, "apgd_art": 3, "apgd": 4, "fab": 5, "square": 6, "cw": 7}


@dataclass
class Target:
    """A classifier as the engine sees it: logits = module(x), inputs boxed in [lo, hi]."""

    module: Any
    device: Any
    lo: float
    hi: float
    nb_classes: int
    channels_last: bool = False

    def logits(self, x: Any) -> Any:
        return self.module(x)

    def tensor(self, x: np.ndarray | Any) -> Any:
        """The samples on the device, in the model's layout: channels-last image batches for
        a model converted to it, so the attack's own elementwise work runs on the layout of
        the gradients the model returns (mixed layouts cost strided loops every step)."""
        import torch

        t = torch.as_tensor(np.asarray(x, dtype=np.float32)).to(self.device)
        if self.channels_last and t.dim() == 4:
            return t.contiguous(memory_format=torch.channels_last)
        return t

    def labels(self, y: np.ndarray | Any) -> Any:
        import torch

        return torch.as_tensor(np.asarray(y)).long().to(self.device)

    def predict(self, x: Any, batch_size: int = 512) -> Any:
        """Logits of a tensor batch by batch, without a graph."""
        import torch

        if not len(x):
            return torch.zeros((0, self.nb_classes), device=self.device)
        with torch.no_grad():
            return torch.cat([self.module(x[s]) for s in batches(len(x), batch_size)])


def of(model: Predictor, what: str = "--engine torch") -> Target:
    """The engine's view of `model`, or a one-line BadInput saying what it lacks."""
    import torch

    from dii_hpc.audit.model.protocols import Task

    module = getattr(model, "module", None)
    if not isinstance(module, torch.nn.Module):
        raise BadInput(f"{what} needs a torch model (a TorchModelWrapper exposing its nn.Module "
                       f"as `.module`); {type(model).__name__} has none - use --engine art")
    task = Task.parse(model.task)
    if not task.is_classification:
        raise BadInput(f"{what} attacks classifiers; {task.value} models use --engine art")
    param = next(iter(module.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    lo, hi = (float(v) for v in model.clip_values)
    return Target(module.eval(), device, lo, hi, int(model.nb_classes or 0),
                  channels_last(module))


def channels_last(module: Any) -> bool:
    """Whether the user converted the model to channels-last (a 4-D weight is laid out so and
    not also contiguous, as one with a single input channel is either way): the engine then
    keeps the samples so too. The same numbers within float noise
    (tests/audit/test_torch_engine_layout.py); a faster conv pass on most devices."""
    import torch

    return any(p.dim() == 4 and not p.is_contiguous()
               and p.is_contiguous(memory_format=torch.channels_last)
               for p in module.parameters())


def to_task_device(model: Predictor) -> None:
    """A torch model's module moved to this task's device (`distributed.device`: the GPU
    Slurm's GRES left visible, else the CPU); the torch engine attacks it there."""
    from dii_hpc.distributed import device

    to = getattr(getattr(model, "module", None), "to", None)
    if callable(to):
        to(device())


def batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, max(int(size), 1)):
        yield slice(start, min(start + int(size), n))


def _seed(seed: int, tag: str, index: int, extra: int) -> int:
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, TAGS[tag], int(index) + 1,
                                       int(extra)]).generate_state(1, np.uint64)[0])


# numpy's SeedSequence constants (numpy/random/bit_generator.pyx)
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _M32 = 0xCA01F9DD, 0x4973F715, 0xFFFFFFFF


def _seeds(seed: int, tag: str, index: np.ndarray, extra: int) -> list[int]:
    """`_seed` for many indices at once: SeedSequence's hash of the four words, vectorised
    over the samples (the same integers; 0.13 instead of 0.9 ms for 128 samples, a cost
    every attack with a random start pays per call). Falls back to `_seed` for words that
    do not fit 32 bits (SeedSequence splits those)."""
    words = [np.full(index.shape, int(seed) & _M32, np.int64), np.full(index.shape, TAGS[tag]),
             index.astype(np.int64) + 1, np.full(index.shape, int(extra))]
    if any(w.size and (w.min() < 0 or w.max() > _M32) for w in words):
        return [_seed(seed, tag, int(i), extra) for i in index]
    u = np.uint32
    h = _INIT_A

    def hashmix(v: np.ndarray) -> np.ndarray:
        nonlocal h
        v = v ^ u(h)
        h = (h * _MULT_A) & _M32
        v = v * u(h)
        return v ^ (v >> u(16))

    with np.errstate(over="ignore"):
        pool = [hashmix(w.astype(np.uint32)) for w in words]
        for src in range(4):
            for dst in range(4):
                if src != dst:
                    r = u(_MIX_L) * pool[dst] - u(_MIX_R) * hashmix(pool[src])
                    pool[dst] = r ^ (r >> u(16))
        out, hb = [], _INIT_B
        for v in pool[:2]:
            v = v ^ u(hb)
            hb = (hb * _MULT_B) & _M32
            v = v * u(hb)
            out.append((v ^ (v >> u(16))).astype(np.uint64))
    return [int(s) for s in out[0] | (out[1] << np.uint64(32))]


def sample_noise(index: Any, shape: tuple[int, ...], seed: int, tag: str, *,
                 kind: str = "uniform", extra: int = 0, device: Any = None) -> Any:
    """One draw per sample, seeded by (seed, attack, global index, restart/target).

    Drawn on the CPU and moved: the same numbers on every device."""
    import torch

    gen = torch.Generator()
    draw = torch.rand if kind == "uniform" else torch.randn
    ids = np.asarray(index).reshape(-1)
    out = [draw(shape, generator=gen.manual_seed(s)) for s in _seeds(seed, tag, ids, extra)]
    stacked = torch.stack(out) if out else torch.zeros((0, *shape))
    return stacked.to(device) if device is not None else stacked


def stream(seed: int, tag: str, extra: int = 0) -> Any:
    """A CPU generator shared by all samples of an attack (Square's square positions)."""
    import torch

    return torch.Generator().manual_seed(_seed(seed, tag, -1, extra))


def random_start(index: Any, x: Any, eps: float, norm: Any, seed: int, tag: str,
                 extra: int = 0) -> Any:
    """A uniform draw in the eps ball (cube for Linf, ball for L2), per sample."""
    import torch

    shape = tuple(x.shape[1:])
    if norm in (np.inf, "inf"):
        u = sample_noise(index, shape, seed, tag, extra=extra, device=x.device)
        return (2 * u - 1) * eps
    g = sample_noise(index, shape, seed, tag, kind="normal", extra=extra, device=x.device)
    flat = g.reshape(len(g), -1)
    d = flat.shape[1]
    r = sample_noise(index, (1,), seed, tag, extra=extra + 1_000_003, device=x.device)
    radius = eps * r.reshape(-1, 1) ** (1.0 / d)
    return (flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12) * radius).reshape(x.shape) \
        .to(torch.float32)


def per_sample_norm(delta: Any, norm: Any) -> Any:
    """||delta_i|| for each sample (Linf or L2)."""
    flat = delta.reshape(len(delta), -1)
    return flat.abs().amax(1) if norm in (np.inf, "inf") else flat.norm(dim=1)
