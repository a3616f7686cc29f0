"""FGSM and PGD in torch with ART's arithmetic (ProjectedGradientDescentPyTorch, FGM).

Same order of operations and dtypes as ART: mean cross-entropy over each batch of
`batch_size` (ART's estimator loss), step, clip to the box, then projection on the eps ball
(ART computes the projection in float64 and casts back; so does `project`). Without random
init the adversarial examples are ART's, bit for bit on the same device. Random inits are
drawn per sample (`target.random_start`), not from numpy's global generator, so they are
not ART's draws; restarts keep, per sample, the last successful one (ART's PGD rule).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.audit.evasion.torch_engine.batching import size
from dii_hpc.audit.evasion.torch_engine.target import Target, batches, random_start
from dii_hpc.errors import BadInput


def check_norm(norm: Any, attack: str) -> Any:
    if norm in (np.inf, "inf") or norm == 2:
        return np.inf if norm in (np.inf, "inf") else 2
    raise BadInput(f"attack {attack}: the torch engine supports norm inf or 2, not {norm!r}")


def loss_grad(target: Target, x: Any, y: Any, targeted: bool = False) -> Any:
    """d mean-CE / dx over the batch (what ART's PyTorchClassifier.loss_gradient returns)."""
    import torch
    import torch.nn.functional as F

    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(target.logits(x), y)
        (grad,) = torch.autograd.grad(loss, [x])
    grad = grad.neg_() if targeted else grad
    return torch.nan_to_num_(grad, nan=0.0, posinf=float("inf"), neginf=float("-inf"))


def direction(grad: Any, norm: Any, numpy_style: bool = False) -> Any:
    """The steepest-ascent unit step: sign(g) (Linf) or g / ||g||_2 (L2; 0 stays 0).

    `numpy_style` divides by the norm (ART's numpy FGM) instead of multiplying by its
    inverse (ART's torch PGD); the two round differently in the last bit."""
    import torch

    if norm == np.inf:
        return grad.sign()
    flat = grad.reshape(len(grad), -1)
    q = torch.linalg.norm(flat, ord=2, dim=1, keepdim=True)
    if numpy_style:
        out = flat.abs() / torch.where(q == 0, torch.full_like(q, float("inf")), q)
        return (out.reshape(grad.shape) * grad.sign())
    return (flat.abs() * q.where(q == 0, 1 / q)).reshape(grad.shape) * grad.sign()


def clip(target: Target, x: Any) -> Any:
    import torch

    return torch.clamp(x, target.lo, target.hi)


def project(delta: Any, eps: float, norm: Any) -> Any:
    """Project perturbations on the eps ball exactly as ART does (float64, then cast).

    Linf clamps `delta` in place: callers pass a temporary (x - x0)."""
    import torch

    flat = delta.reshape(len(delta), -1)
    if norm == np.inf:
        e = float(np.float32(eps))
        return torch.clamp(flat, -e, e, out=flat).reshape(delta.shape)
    n = torch.linalg.norm(flat, ord=2, dim=1, keepdim=True).double()
    factor = torch.where(n == 0, n, torch.clamp(float(eps) / n, max=1.0))
    return (flat.double() * factor).to(delta.dtype).reshape(delta.shape)


def _step(target: Target, x: Any, x0: Any, y: Any, eps: float, eps_step: float, norm: Any,
          targeted: bool, numpy_style: bool = False) -> Any:
    import torch

    pert = direction(loss_grad(target, x, y, targeted), norm, numpy_style)
    stepped = pert.mul_(torch.tensor(np.float32(eps_step), device=x.device)).nan_to_num_(nan=0.0)
    x = torch.clamp(stepped.add_(x), target.lo, target.hi, out=stepped)  # x + step, boxed
    return project(x.sub_(x0), eps, norm).add_(x0)


def _success(target: Target, x_adv: Any, y: Any, targeted: bool) -> Any:
    pred = target.predict(x_adv).argmax(1)
    return pred == y if targeted else pred != y


def pgd(target: Target, x: Any, y: Any, *, norm: Any, eps: float, eps_step: float,
        max_iter: int, num_random_init: int = 0, batch_size: int | None = None, seed: int = 0,
        index: Any = None, targeted: bool = False) -> Any:
    """x_adv of ART's PGD; `index` are the samples' global ids (for their random inits).

    `batch_size` None: the device's batch (`batching.size`); the sign of ART's mean-loss
    gradient does not depend on it."""
    import torch

    norm = check_norm(norm, "pgd")
    batch_size = batch_size or size(target, x)
    index = np.arange(len(x)) if index is None else np.asarray(index)
    adv = x.clone()
    for s in batches(len(x), batch_size):
        x0, yb = x[s], y[s]
        for restart in range(max(1, int(num_random_init))):
            xb = x0
            for it in range(int(max_iter)):
                if it == 0 and num_random_init > 0:
                    xb = clip(target, xb + random_start(index[s], xb, eps, norm, seed, "pgd",
                                                        restart))
                xb = _step(target, xb, x0, yb, eps, eps_step, norm, targeted)
            if restart == 0:
                adv[s] = xb
            else:
                ok = _success(target, xb, yb, targeted)
                adv[s] = torch.where(ok.view(-1, *[1] * (x.dim() - 1)), xb, adv[s])
    return adv.detach()


def fgsm(target: Target, x: Any, y: Any, *, norm: Any, eps: float,
         eps_step: float | None = None, num_random_init: int = 0,
         batch_size: int | None = None, seed: int = 0, index: Any = None,
         targeted: bool = False) -> Any:
    """x_adv of ART's FastGradientMethod (minimal=False): one step of size eps."""
    import torch

    norm = check_norm(norm, "fgsm")
    batch_size = batch_size or size(target, x)
    index = np.arange(len(x)) if index is None else np.asarray(index)
    adv = x.clone()
    for restart in range(max(1, int(num_random_init))):
        start = x
        if num_random_init > 0:
            start = clip(target, x + random_start(index, x, eps, norm, seed, "fgsm", restart))
        out = torch.cat([_step(target, start[s], x[s], y[s], eps, eps, norm, targeted,
                               numpy_style=True) for s in batches(len(x), batch_size)])
        if restart == 0:
            adv = out
        else:
            ok = _success(target, out, y, targeted)
            adv = torch.where(ok.view(-1, *[1] * (x.dim() - 1)), out, adv)
    return adv.detach()
