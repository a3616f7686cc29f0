"""AutoPGD in torch with ART's algorithm (art.attacks.evasion.AutoProjectedGradientDescent).

ART's variant differs from the reference AutoPGD of `apgd.py` (it keeps the last iterate,
not the best adversarial point seen; its checkpoints count improvements of the best loss;
its step size starts at `eps_step`), so the catalogue attack `apgd` keeps ART's semantics
under `--engine torch` and `apgd.py` serves the AutoAttack standard. Every restart starts
from a random point in the ball, as in ART; `nb_random_init=0` (which ART refuses) starts
the single run at x itself - the deterministic setting in which the numbers equal ART's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dii_hpc.audit.evasion.torch_engine.batching import size
from dii_hpc.audit.evasion.torch_engine.pgd import check_norm, clip, project
from dii_hpc.audit.evasion.torch_engine.target import Target, batches, random_start

MOMENTUM = 0.75
RHO = 0.75
TOL = 10e-8  # ART's guard against dividing by a zero gradient norm


def checkpoints(max_iter: int) -> list[int]:
    """ART's step-size checkpoints: p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)."""
    w = [0.0, 0.22]
    while (nxt := w[-1] + max(w[-1] - w[-2] - 0.03, 0.06)) <= 1:
        w.append(nxt)
    return [math.ceil(p * max_iter) for p in w]


def _losses(kind: str | None) -> Any:
    import torch.nn.functional as F

    if kind in (None, "cross_entropy"):
        return lambda z, y: F.cross_entropy(z, y, reduction="none")
    if kind == "difference_logits_ratio":  # ART's DifferenceLogitsRatioPyTorch: no epsilon
        from dii_hpc.audit.evasion.torch_engine.dlr import dlr

        return lambda z, y: dlr(z, y, eps=0.0)
    from dii_hpc.errors import BadInput

    raise BadInput(f"attack apgd: loss_type={kind!r} is not cross_entropy or "
                   "difference_logits_ratio")


def _value_grad(target: Target, loss: Any, x: Any, y: Any, backward: bool = True
                ) -> tuple[Any, Any, Any]:
    """(per-sample loss, d mean-loss / dx or None, logits) at x from ONE forward pass.

    ART evaluates the loss at the new iterate with one forward and its gradient at the next
    step with another; the two forwards see the same point, so one serves both (the same
    values, half the forwards). `backward=False` (the last iterate) skips the gradient."""
    import torch

    if not backward:
        with torch.no_grad():
            z = target.logits(x)
            return loss(z, y), None, z
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        z = target.logits(x)
        values = loss(z, y)
        (g,) = torch.autograd.grad(values.mean(), [x])
    return values.detach(), g, z.detach()


def _unit(grad: Any, norm: Any) -> Any:
    if norm == np.inf:
        return grad.sign()
    dims = tuple(range(1, grad.dim()))
    return grad / ((grad ** 2).sum(dim=dims, keepdim=True).sqrt() + TOL)


def _batch(target: Target, loss: Any, x_k: Any, x0: Any, y: Any, *, norm: Any, eps: float,
           eps_step: float, max_iter: int, targeted: bool) -> tuple[Any, Any]:
    """One batch of ART's AutoPGD loop: (last iterate, its logits).

    Each iterate's loss comes with its gradient (`_value_grad`); the best point keeps its
    gradient and logits, so a checkpoint that goes back to it computes nothing again. Rows
    are chosen with `torch.where` (ART's boolean-mask assignments: the same values)."""
    import torch

    var_w = checkpoints(max_iter)
    shape = (len(x_k),) + (1,) * (x_k.dim() - 1)
    eta = torch.full(shape, float(np.float32(eps_step)), device=x_k.device)
    count = torch.zeros(len(x_k), device=x_k.device)
    sign = -1.0 if targeted else 1.0
    f_0, g, z_k = _value_grad(target, loss, x_k, y, backward=max_iter > 0)
    for k in range(int(max_iter)):
        z = clip(target, x_k + eta * _unit(g * sign, norm))
        if k == 0:
            x_1 = x0 + project(z - x0, eps, norm)
            f_1, g_1, z_1 = _value_grad(target, loss, x_1, y, backward=max_iter > 1)
            eta_w, f_max_w = eta, f_0
            ge = f_1 >= f_0
            f_max, count = torch.where(ge, f_1, f_0), count + ge
            x_max, z_max = _pick(ge, x_1, x_k), _pick(ge, z_1, z_k)
            x_max_m_1 = x0
            g_max = g if g_1 is None else _pick(ge, g_1, g)
            x_k_m_1, x_k, g, z_k = x_k, x_1, g_1, z_1
            continue
        z = x0 + project(z - x0, eps, norm)
        nxt = x_k + MOMENTUM * (z - x_k) + (1 - MOMENTUM) * (x_k - x_k_m_1)
        nxt = clip(target, nxt)
        nxt = x0 + project(nxt - x0, eps, norm)
        f, g_n, z_n = _value_grad(target, loss, nxt, y, backward=k < max_iter - 1)
        if bool((f == 0.0).all()):
            return nxt, z_n
        better = f < f_max if targeted else f > f_max
        count = count + better
        x_max, x_max_m_1 = _pick(better, nxt, x_max), _pick(better, x_k, x_max_m_1)
        f_max, z_max = torch.where(better, f, f_max), _pick(better, z_n, z_max)
        if g_n is not None:
            g_max = _pick(better, g_n, g_max)
        x_k_m_1, x_k, g, z_k = x_k, nxt, g_n, z_n
        if k in var_w:
            prev = var_w[var_w.index(k) - 1]
            cond = (count < RHO * (k - prev)) | ((eta_w == eta).reshape(-1) & (f_max_w == f_max))
            eta = torch.where(_rows(cond, eta), eta / 2, eta)
            x_k, x_k_m_1 = _pick(cond, x_max, x_k), _pick(cond, x_max_m_1, x_k_m_1)
            z_k = _pick(cond, z_max, z_k)
            if g is not None:
                g = _pick(cond, g_max, g)
            count = torch.zeros_like(count)
            eta_w, f_max_w = eta, f_max
    return x_k, z_k


def _pick(mask: Any, a: Any, b: Any) -> Any:
    """a in the rows where `mask` holds, else b: a selection, no index gather or scatter."""
    import torch

    return torch.where(_rows(mask, a), a, b)


def _rows(mask: Any, like: Any) -> Any:
    return mask.view(-1, *[1] * (like.dim() - 1))


def apgd(target: Target, x: Any, y: Any, *, norm: Any, eps: float, eps_step: float,
         max_iter: int, nb_random_init: int = 1, batch_size: int | None = None,
         loss_type: str | None = "cross_entropy", targeted: bool = False, seed: int = 0,
         index: Any = None) -> Any:
    """x_adv of ART's AutoPGD (restarts on the samples still robust, as ART)."""
    norm = check_norm(norm, "apgd")
    loss = _losses(loss_type)
    batch_size = batch_size or size(target, x)
    index = np.arange(len(x)) if index is None else np.asarray(index)
    x_adv = x.clone()
    for restart in range(max(1, int(nb_random_init))):
        pred = target.predict(x_adv).argmax(1)
        robust = pred != y if targeted else pred == y
        if not bool(robust.any()):
            break
        x_rob, y_rob, x_init = x_adv[robust], y[robust], x[robust]
        if nb_random_init > 0:
            ids = index[robust.cpu().numpy()]
            x_rob = clip(target, x_rob + random_start(ids, x_rob, eps, norm, seed, "apgd_art",
                                                      restart))
            x_rob = x_init + project(x_rob - x_init, eps, norm)
        for s in batches(len(x_rob), batch_size):
            x_k, z_k = _batch(target, loss, x_rob[s], x_init[s], y_rob[s], norm=norm, eps=eps,
                              eps_step=eps_step, max_iter=max_iter, targeted=targeted)
            pred_k = z_k.argmax(1)
            fooled = pred_k == y_rob[s] if targeted else pred_k != y_rob[s]
            block = x_rob[s]
            block[fooled] = x_k[fooled]
            x_rob[s] = block
        x_adv[robust] = x_rob
    return x_adv.detach()
