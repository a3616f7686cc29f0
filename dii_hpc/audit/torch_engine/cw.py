"""Carlini-Wagner L2 in torch (Carlini & Wagner 2017), ART's CarliniL2Method's parameters.

Minimise ||x' - x||_2^2 + c * max(z_y - max_{j != y} z_j + confidence, 0) over x' in the
box, written x' = lo + span * (tanh(w) + 1) / 2, with Adam on w; a binary search over c
per sample (x10 until a first success, then bisection). The best (smallest L2) adversarial
point of every step is kept; samples never fooled are returned unchanged. `abort_early`
stops a search step whose loss fell by less than 0.01% over a tenth of `max_iter` (Carlini's
reference code; torchattacks does the same). ART optimises
the same objective with its own line search, so the two agree on success rates and
roughly on distortion, not bit for bit (`benchmarks/bench_evasion_engines.py` compares).
"""

from __future__ import annotations

from typing import Any

from dii_hpc.audit.torch_engine.target import Target, batches

UPPER = 1e10


def _objective(target: Target, w: Any, x: Any, y: Any, const: Any, confidence: float,
               targeted: bool) -> tuple[Any, Any, Any, Any]:
    import torch

    span = target.hi - target.lo
    x_new = target.lo + span * (torch.tanh(w) + 1) / 2
    z = target.logits(x_new)
    l2 = (x_new - x).reshape(len(x), -1).pow(2).sum(1)
    real = z.gather(1, y.view(-1, 1)).squeeze(1)
    other = z.masked_fill(torch.nn.functional.one_hot(y, z.shape[1]).bool(),
                          float("-inf")).amax(1)
    gap = (other - real) if targeted else (real - other)
    f = torch.clamp(gap + confidence, min=0)
    return (l2 + const * f).sum(), x_new.detach(), l2.detach(), (gap + confidence).detach()


def _batch(target: Target, x: Any, y: Any, *, confidence: float, learning_rate: float,
           binary_search_steps: int, max_iter: int, initial_const: float,
           targeted: bool, abort_early: bool) -> Any:
    import torch

    span = target.hi - target.lo
    unit = ((x - target.lo) / span * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6)
    w0 = torch.atanh(unit)
    const = torch.full((len(x),), float(initial_const), device=x.device)
    lower = torch.zeros_like(const)
    upper = torch.full_like(const, UPPER)
    best_l2 = torch.full_like(const, float("inf"))
    best = x.clone()
    for _ in range(int(binary_search_steps)):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=float(learning_rate))
        fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        prev, every = float("inf"), max(int(max_iter) // 10, 1)
        for it in range(int(max_iter)):
            with torch.enable_grad():
                loss, x_new, l2, margin = _objective(target, w, x, y, const, confidence,
                                                     targeted)
                opt.zero_grad()
                loss.backward()
            if abort_early and it % every == 0:
                if float(loss.detach()) > prev * 0.9999:
                    break
                prev = float(loss.detach())
            opt.step()
            win = margin <= 0 if confidence > 0 else margin < 0
            fooled |= win
            better = win & (l2 < best_l2)
            best_l2 = torch.where(better, l2, best_l2)
            best[better] = x_new[better]
        upper = torch.where(fooled, torch.minimum(upper, const), upper)
        lower = torch.where(fooled, lower, torch.maximum(lower, const))
        const = torch.where(upper < UPPER, (lower + upper) / 2, const * 10)
    return best


def carlini_l2(target: Target, x: Any, y: Any, *, confidence: float = 0.0,
               learning_rate: float = 0.01, binary_search_steps: int = 10,
               max_iter: int = 10, initial_const: float = 0.01, batch_size: int = 128,
               targeted: bool = False, abort_early: bool = True, seed: int = 0,
               index: Any = None) -> Any:
    """x_adv of C&W L2 (deterministic: `seed` and `index` are unused)."""
    import torch

    out = [_batch(target, x[s], y[s], confidence=float(confidence),
                  learning_rate=learning_rate, binary_search_steps=binary_search_steps,
                  max_iter=max_iter, initial_const=initial_const, targeted=targeted,
                  abort_early=abort_early)
           for s in batches(len(x), batch_size)]
    return torch.cat(out) if out else x.clone()
