"""Carlini-Wagner L2 in torch with ART's algorithm (art.attacks.evasion.CarliniL2Method).

Minimise ||x' - x||_2^2 + c * max(z_y - max_{j != y} z_j + confidence, 0) in tanh space
(x' = lo + span * (tanh(w) + 1) / 2, ART's smoothing 0.999999). ART descends the gradient
with a line search on the step per sample (up to `max_halving` halvings from the current
rate, then up to `max_doubling` doublings when the first try already improved) and adapts
c by ART's binary search (halve towards the lower bound on success, double until a first
success, then step half-way up). This module is that algorithm, step for step and in ART's
dtypes (c, rates and losses in float64), so `--engine torch` gives ART's C&W numbers.

ART's algorithm is not torchattacks' `CW` (nor Carlini's original): torchattacks takes
Adam steps at one fixed c for every sample (`steps` iterations, one forward and backward
each), so a c too small finds nothing and one too large finds needlessly large
perturbations; ART searches c per sample (`binary_search_steps` rounds of `max_iter`
iterations, each round restarting from x: c halves towards its last failure after a
success, doubles until a first success) and line-searches each step's rate, which costs
forward passes (one per halving or doubling tried; 2 to 4 per iteration in practice).
What the torch engine adds is cost, not arithmetic: per iteration one forward and one
backward at the samples that moved (their logits and their margin gradient from the same
graph, one backward for z_add - z_sub; ART runs a forward for the logits, another for each
class gradient); a sample that did not move keeps its gradient; the line search's forwards
run under `inference_mode` on the samples still searching; c and its bounds stay on the
device. The only host reads are the loop exits (any sample still searching / active).
"""

from __future__ import annotations

from typing import Any

from dii_hpc.audit.evasion.torch_engine.target import Target, batches

UPPER = 10e10       # ART's _c_upper_bound
SMOOTH = 0.999999   # ART's _tanh_smoother


def _to_tanh(x: Any, lo: float, hi: float) -> Any:
    import torch

    u = (torch.clamp(x, lo, hi) - lo) / (hi - lo)
    return torch.atanh((u * 2 - 1) * SMOOTH)


def _from_tanh(w: Any, lo: float, hi: float) -> Any:
    import torch

    return (torch.tanh(w) + 1.0) / 2.0 * (hi - lo) + lo


def _other(z: Any, onehot: Any) -> Any:
    """z with the labelled class pushed below every other (ART's masking)."""
    return z * (1 - onehot) + (z.min(1)[0] - 1).unsqueeze(1) * onehot


def _objective(z: Any, x: Any, x_adv: Any, onehot: Any, c: Any, confidence: float,
               targeted: bool) -> tuple[Any, Any]:
    """(squared L2 distance, c * margin + distance) at logits z, as ART's `_loss`."""
    import torch

    l2 = (x - x_adv).pow(2).reshape(len(x), -1).sum(1)
    z_target = (z * onehot).sum(1)
    z_other = _other(z, onehot).max(1)[0]
    gap = z_other - z_target if targeted else z_target - z_other
    return l2, c * torch.clamp(gap + confidence, min=0) + l2


def _loss(target: Target, x: Any, x_adv: Any, onehot: Any, c: Any, confidence: float,
          targeted: bool) -> tuple[Any, Any]:
    """(squared L2 distance, loss) of a trial point: a forward without a graph."""
    import torch

    with torch.inference_mode():
        z = target.logits(x_adv.float())
    return _objective(z, x, x_adv, onehot, c, confidence, targeted)


def _margin_grad(target: Target, x_adv: Any, onehot: Any, targeted: bool) -> tuple[Any, Any]:
    """(logits, grad of z_add - z_sub) at x_adv: ART's two class gradients from one forward
    and one backward (add/sub: the label and the best other class, by the same logits)."""
    import torch

    xg = x_adv.detach().float().requires_grad_(True)
    with torch.enable_grad():
        out = target.logits(xg)
        z = out.detach()
        other = _other(z, onehot).argmax(1)
        label = onehot.argmax(1)
        add, sub = (other, label) if targeted else (label, other)
        u = torch.arange(len(z), device=z.device)
        (g,) = torch.autograd.grad((out[u, add] - out[u, sub]).sum(), [xg])
    return z, g


def _direction(gz: Any, c: Any, x: Any, x_adv: Any, w: Any, span: float) -> Any:
    """ART's `_loss_gradient` from the margin gradient: c gz + 2 (x' - x), through tanh."""
    import torch

    shape = (-1,) + (1,) * (x.dim() - 1)
    g = (gz * c.view(shape)).to(x.dtype) + 2 * (x_adv - x)
    g = g * span
    return g * ((1 - torch.tanh(w) ** 2) / (2 * SMOOTH))


def _try(target: Target, xb: Any, w: Any, lr: Any, pert: Any, onehot: Any, c: Any,
         conf: float, targeted: bool) -> tuple[Any, Any]:
    """(distance, loss) of the trial point w + lr * pert (float64, as ART)."""
    shape = (-1,) + (1,) * (w.dim() - 1)
    new_x = _from_tanh(w + lr.view(shape) * pert, target.lo, target.hi)
    l2, loss = _loss(target, xb, new_x, onehot, c, conf, targeted)
    return l2.to(xb.dtype), loss


def _line_search(target: Target, xb: Any, w: Any, onehot: Any, c: Any, lr: Any, loss: Any,
                 l2: Any, active: Any, pert: Any, conf: float, targeted: bool,
                 max_halving: int, max_doubling: int) -> Any:
    """ART's halving then doubling of each active sample's rate; returns the best rates."""
    import torch

    prev, best_loss = loss.clone(), loss.clone()
    best_lr = torch.zeros_like(lr)
    halving = torch.zeros_like(lr)

    def trial(mask: Any, sub: Any) -> None:
        l2[mask], loss[mask] = _try(target, xb[mask], w[mask], lr[mask], pert[sub],
                                    onehot[mask], c[mask], conf, targeted)
        better = loss < best_loss
        best_lr[better], best_loss[better] = lr[better], loss[better]

    for _ in range(int(max_halving)):
        do = loss[active] >= prev[active]
        if not bool(do.any()):
            break
        mask = active.clone()
        mask[active] = do
        trial(mask, do)
        lr[mask] /= 2
        halving[mask] += 1
    lr[active] *= 2
    for _ in range(int(max_doubling)):
        do = (halving[active] == 1) & (loss[active] <= best_loss[active])
        if not bool(do.any()):
            break
        mask = active.clone()
        mask[active] = do
        lr[mask] *= 2
        trial(mask, do)
    lr[halving == 1] /= 2
    return best_lr


def _round(target: Target, xb: Any, w0: Any, onehot: Any, c: Any, best_l2: Any, best: Any,
           *, confidence: float, learning_rate: float, max_iter: int, max_halving: int,
           max_doubling: int, targeted: bool) -> Any:
    """One round of the binary search at constants c, from x: keeps each sample's smallest
    successful point in (best_l2, best); returns the samples it fooled at any iteration."""
    import torch

    n, f64 = len(xb), torch.float64
    lr = torch.full((n,), float(learning_rate), dtype=f64, device=xb.device)
    x_adv, w = xb.clone(), w0.clone()
    z, gz = _margin_grad(target, x_adv, onehot, targeted)
    l2, loss = _objective(z, xb, x_adv, onehot, c, confidence, targeted)
    success = loss - l2 <= 0
    overall = success.clone()
    shape = (-1,) + (1,) * (xb.dim() - 1)
    for _ in range(int(max_iter)):
        better = success & (l2 < best_l2)
        best_l2[better], best[better] = l2[better].to(f64), x_adv[better]
        active = (c < UPPER) & (lr > 0)
        if not bool(active.any()):
            break
        pert = -_direction(gz[active], c[active], xb[active], x_adv[active], w[active],
                           target.hi - target.lo)
        best_lr = _line_search(target, xb, w, onehot, c, lr, loss, l2, active, pert,
                               confidence, targeted, max_halving, max_doubling)
        upd = best_lr[active] > 0
        if bool(upd.any()):
            mask = active.clone()
            mask[active] = upd
            w[mask] = (w[mask] + best_lr[mask].view(shape) * pert[upd]).to(w.dtype)
            x_adv[mask] = _from_tanh(w[mask], target.lo, target.hi)
            z[mask], gz[mask] = _margin_grad(target, x_adv[mask], onehot[mask], targeted)
            l2[mask], loss[mask] = _objective(z[mask], xb[mask], x_adv[mask], onehot[mask],
                                              c[mask], confidence, targeted)
            success = loss - l2 <= 0
            overall = overall | success
    better = success & (l2 < best_l2)
    best_l2[better], best[better] = l2[better].to(f64), x_adv[better]
    return overall


def _batch(target: Target, xb: Any, yb: Any, *, binary_search_steps: int,
           initial_const: float, **round_params: Any) -> Any:
    """ART's binary search over c, all on the device (c, its lower bound, doubling flags)."""
    import torch

    n, dev, f64 = len(xb), xb.device, torch.float64
    onehot = torch.nn.functional.one_hot(yb, target.nb_classes).to(xb.dtype)
    w0 = _to_tanh(xb, target.lo, target.hi)
    c = torch.full((n,), float(initial_const), dtype=f64, device=dev)
    c_low = torch.zeros_like(c)
    c_double = torch.ones(n, dtype=torch.bool, device=dev)
    best_l2 = torch.full((n,), float("inf"), dtype=f64, device=dev)
    best = xb.clone()
    for _ in range(int(binary_search_steps)):
        if not bool((c < UPPER).any()):
            break
        overall = _round(target, xb, w0, onehot, c, best_l2, best, **round_params)
        c_double[overall] = False
        c[overall] = (c_low + c)[overall] / 2
        c[~overall & c_double] *= 2
        grow = ~overall & ~c_double
        c[grow] += (c - c_low)[grow] / 2
        c_low[~overall] = c[~overall]
    return best


def carlini_l2(target: Target, x: Any, y: Any, *, confidence: float = 0.0,
               learning_rate: float = 0.01, binary_search_steps: int = 10,
               max_iter: int = 10, initial_const: float = 0.01, max_halving: int = 5,
               max_doubling: int = 5, batch_size: int = 1, targeted: bool = False,
               seed: int = 0, index: Any = None) -> Any:
    """x_adv of ART's C&W L2 (deterministic: `seed` and `index` are unused)."""
    import torch

    out = [_batch(target, x[s], y[s], confidence=float(confidence),
                  learning_rate=learning_rate, binary_search_steps=binary_search_steps,
                  max_iter=max_iter, initial_const=initial_const, max_halving=max_halving,
                  max_doubling=max_doubling, targeted=targeted)
           for s in batches(len(x), batch_size)]
    return torch.cat(out) if out else x.clone()
