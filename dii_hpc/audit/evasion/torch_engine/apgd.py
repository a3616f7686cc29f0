"""AutoPGD as AutoAttack runs it (Croce & Hein 2020; fra31/auto-attack `autopgd_base.py`).

Losses: cross-entropy ("ce", APGD-CE), the difference of logits ratio ("dlr") and its
targeted form ("dlr-targeted", APGD-T over the top `n_target_classes` other classes).
Step size starts at 2 eps and halves at checkpoints (every k iterations, k shrinking from
22% to 6% of n_iter) where the loss rose in at most rho of the last k steps, or where it
was not halved last time and the best loss did not improve; momentum 0.75; the best
adversarial point of any iteration is kept. `eot_iter` averages the gradient over that many
passes (randomised defences, AutoAttack's version 'rand'). Random starts are drawn per
sample, so an outcome never depends on the other samples of its batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.audit.evasion.torch_engine.batching import size
from dii_hpc.audit.evasion.torch_engine.dlr import dlr, dlr_targeted
from dii_hpc.audit.evasion.torch_engine.target import Target, batches, sample_noise
from dii_hpc.errors import BadInput

MOMENTUM = 0.75


def _loss_fn(loss: str, y_target: Any = None) -> Any:
    import torch.nn.functional as F

    if loss == "ce":
        return lambda z, y: F.cross_entropy(z, y, reduction="none")
    if loss == "dlr":
        return dlr
    return lambda z, y: dlr_targeted(z, y, y_target)


def _view(v: Any, x: Any) -> Any:
    return v.view(-1, *[1] * (x.dim() - 1))


def _l2(v: Any) -> Any:
    return v.reshape(len(v), -1).pow(2).sum(-1).sqrt()


def _normalize(v: Any, norm: Any) -> Any:
    flat = v.reshape(len(v), -1)
    t = flat.abs().amax(1) if norm == np.inf else flat.pow(2).sum(-1).sqrt()
    return v / (_view(t, v) + 1e-12)


def _grad(target: Target, x: Any, y: Any, fn: Any, eot_iter: int,
          backward: bool = True) -> tuple[Any, Any, Any]:
    """(logits, per-sample loss, gradient averaged over `eot_iter` passes).

    `backward=False` (the last iterate, whose gradient no step uses) runs the same passes
    without a graph and returns no gradient: the same logits and loss, one backward fewer."""
    import torch

    if not backward:
        with torch.no_grad():
            for _ in range(int(eot_iter)):
                logits = target.logits(x)
            return logits, fn(logits, y), None
    x = x.detach().requires_grad_(True)
    grad: Any = None
    for _ in range(int(eot_iter)):
        with torch.enable_grad():
            logits = target.logits(x)
            loss = fn(logits, y)
            (g,) = torch.autograd.grad(loss.sum(), [x])
        grad = g if grad is None else grad.add_(g)
    if eot_iter != 1:
        grad = grad / float(eot_iter)
    return logits.detach(), loss.detach(), grad


def _start(target: Target, x: Any, index: Any, norm: Any, eps: float, seed: int,
           extra: int) -> Any:
    import torch

    kind = "uniform" if norm == np.inf else "normal"
    t = sample_noise(index, tuple(x.shape[1:]), seed, "apgd", kind=kind, extra=extra,
                     device=x.device)
    t = 2 * t - 1 if norm == np.inf else t
    return torch.clamp(x + eps * _normalize(t, norm), target.lo, target.hi)


def _bounds(target: Target, x: Any, eps: float, norm: Any) -> tuple[Any, Any]:
    """The Linf ball around x within the box, once per run (None for L2).

    AutoAttack clamps to the ball, then to the box: selections only, so one clamp to the
    intersection gives the same values with two tensors fewer per step."""
    import torch

    if norm != np.inf:
        return None, None
    return (torch.clamp(x - eps, min=target.lo), torch.clamp(x + eps, max=target.hi))


def _ball(target: Target, x_new: Any, x: Any, eps: float, norm: Any, bounds: Any) -> Any:
    """Back into the eps ball around x and the box (AutoAttack's order of clamps), in place."""
    import torch

    if norm == np.inf:
        return torch.clamp(x_new, bounds[0], bounds[1], out=x_new)
    d = x_new - x
    return torch.clamp(x + _normalize(d, norm) * torch.clamp(_view(_l2(d), d), max=eps),
                       target.lo, target.hi)


def _ascend(x_adv: Any, step: Any, grad: Any, norm: Any) -> Any:
    """x_adv + step * sign(grad) (Linf; one fused op, exact: step * +-1 rounds nothing) or
    x_adv + step * grad / ||grad|| (L2)."""
    import torch

    if norm == np.inf:
        return torch.addcmul(x_adv, step, grad.sign())
    return x_adv + step * _normalize(grad, norm)


def _oscillation(steps: Any, j: int, k: int, rho: float) -> Any:
    t = sum((steps[j - c] > steps[j - c - 1]).float() for c in range(k))
    return (t <= k * rho).float()


class _Kept:
    """Flags and points of the samples a run dropped once fooled (`stop_fooled`)."""

    def __init__(self, acc: Any, x_best_adv: Any) -> None:
        import torch

        self.flags, self.points = acc.clone(), x_best_adv.clone()
        self.live = torch.arange(len(acc), device=acc.device)

    def drop(self, acc: Any, x_best_adv: Any) -> None:
        gone = self.live[~acc]
        self.flags[gone], self.points[gone] = False, x_best_adv[~acc]
        self.live = self.live[acc]

    def result(self, acc: Any, x_best_adv: Any) -> tuple[Any, Any]:
        self.flags[self.live], self.points[self.live] = acc, x_best_adv
        return self.flags, self.points


def single_run(target: Target, x: Any, y: Any, index: Any, *, norm: Any, eps: float,
               n_iter: int, fn: Any, eot_iter: int = 1, rho: float = 0.75, seed: int = 0,
               extra: int = 0, stop_fooled: bool = False) -> tuple[Any, Any]:
    """One AutoPGD run: (still-robust flags, best adversarial point per sample).

    n_iter + 1 forwards and n_iter backwards (AutoAttack's n_iter + 1 gradients less the last
    one, which no step uses); besides them only elementwise work on the device (selections
    with `torch.where`, also at checkpoints; clamps in place) and no host copy.
    `stop_fooled` drops a sample from the batch at its first fooling iteration: the same
    flags for less work, its point the first adversarial one rather than the last (for
    callers that need the flags only; `fn` must not hold per-sample state)."""
    import torch

    x_adv = _start(target, x, index, norm, eps, seed, extra)
    bounds = _bounds(target, x, eps, norm)
    x_best, x_best_adv = x_adv.clone(), x_adv.clone()
    steps = torch.zeros((n_iter, len(x)), device=x.device)
    logits, loss_best, grad = _grad(target, x_adv, y, fn, eot_iter)
    grad_best = grad.clone()
    acc = logits.argmax(1) == y
    step = torch.full((len(x),) + (1,) * (x.dim() - 1), 2.0 * eps, device=x.device)
    x_old = x_adv
    k, k_min, k_decr = max(int(0.22 * n_iter), 1), max(int(0.06 * n_iter), 1), \
        max(int(0.03 * n_iter), 1)
    counter, best_at_check = 0, loss_best.clone()
    reduced_at_check = torch.ones_like(loss_best)
    kept = _Kept(acc, x_best_adv) if stop_fooled else None
    for i in range(n_iter):
        last = i == n_iter - 1
        with torch.no_grad():
            momentum, x_old = x_adv - x_old, x_adv
            a = MOMENTUM if i > 0 else 1.0
            x1 = _ball(target, _ascend(x_adv, step, grad, norm), x, eps, norm, bounds)
            # x_adv + (x1 - x_adv) * a + momentum * (1 - a), in place in x1 (same roundings)
            x1 = x1.sub_(x_adv).mul_(a).add_(x_adv).add_(momentum.mul_(1 - a))
            x_adv = _ball(target, x1, x, eps, norm, bounds)
        logits, loss, grad = _grad(target, x_adv, y, fn, eot_iter, backward=not last)
        pred = logits.argmax(1) == y
        acc = acc & pred
        x_best_adv = torch.where(_view(pred, x), x_best_adv, x_adv)
        steps[i] = loss
        up = loss > loss_best
        x_best = torch.where(_view(up, x), x_adv, x_best)
        if not last:
            grad_best = torch.where(_view(up, x), grad, grad_best)
        loss_best = torch.where(up, loss, loss_best)
        counter += 1
        if counter == k:
            no_gain = (1.0 - reduced_at_check) * (best_at_check >= loss_best).float()
            halve = torch.max(_oscillation(steps, i, k, rho), no_gain)
            reduced_at_check, best_at_check = halve, loss_best
            m = _view(halve > 0, x)
            step = torch.where(m, step / 2.0, step)
            x_adv = torch.where(m, x_best, x_adv)
            if not last:
                grad = torch.where(m, grad_best, grad)
            k, counter = max(k - k_decr, k_min), 0
        if kept is not None and not bool(acc.all()):
            kept.drop(acc, x_best_adv)
            if last:
                return kept.result(acc[acc], x_best_adv[acc])
            live = acc
            x, y, x_adv, x_old, x_best, x_best_adv, grad, grad_best, loss_best, step, \
                best_at_check, reduced_at_check, acc = (v[live] for v in (
                    x, y, x_adv, x_old, x_best, x_best_adv, grad, grad_best, loss_best, step,
                    best_at_check, reduced_at_check, acc))
            steps = steps[:, live]
            if bounds[0] is not None:
                bounds = (bounds[0][live], bounds[1][live])
            if not len(x):
                break
    return kept.result(acc, x_best_adv) if kept is not None else (acc, x_best_adv)


def apgd(target: Target, x: Any, y: Any, *, norm: Any, eps: float, n_iter: int = 100,
         n_restarts: int = 1, loss: str = "ce", eot_iter: int = 1, rho: float = 0.75,
         n_target_classes: int = 9, seed: int = 0, index: Any = None,
         batch_size: int | None = None, stop_fooled: bool = False) -> Any:
    """x_adv of AutoAttack's APGD-CE / APGD-DLR (`loss` ce|dlr) or APGD-T (dlr-targeted).

    Restarts and target classes run on the samples still robust; a sample counts as
    fooled by the best point any iteration found (AutoAttack's `perturb`). `stop_fooled`
    (untargeted losses): a sample leaves its batch once fooled (`single_run`)."""
    if stop_fooled and loss == "dlr-targeted":
        raise BadInput("apgd: stop_fooled needs an untargeted loss (ce or dlr)")
    norm = np.inf if norm in (np.inf, "inf") else 2
    index = np.arange(len(x)) if index is None else np.asarray(index)
    batch_size = batch_size or size(target, x)
    adv = x.clone()
    clean = target.predict(x)
    acc = clean.argmax(1) == y
    targets = range(2, n_target_classes + 2) if loss == "dlr-targeted" else [0]
    for t in targets:
        for restart in range(int(n_restarts)):
            todo = acc.nonzero().reshape(-1)
            for s in batches(len(todo), batch_size):
                ids = todo[s]
                xb, yb = x[ids], y[ids]
                y_target = clean[ids].sort(dim=1)[1][:, -t] if t else None
                ok, xb_adv = single_run(target, xb, yb, index[ids.cpu().numpy()], norm=norm,
                                        eps=eps, n_iter=int(n_iter),
                                        fn=_loss_fn(loss, y_target), eot_iter=eot_iter,
                                        rho=rho, seed=seed, extra=1000 * t + restart,
                                        stop_fooled=stop_fooled)
                acc[ids[~ok]] = False
                adv[ids[~ok]] = xb_adv[~ok]
    return adv.detach()
