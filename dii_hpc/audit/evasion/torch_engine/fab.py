"""FAB-T: the targeted Fast Adaptive Boundary attack (Croce & Hein 2020), as in AutoAttack.

Each iteration linearises the decision boundary between the true class y and a target t at
the current point x1 (z_t - z_y = 0, one gradient), projects both x1 and the original x0 on
that hyperplane inside the box (`projections`), and moves to a convex combination of the
two projections, biased towards x0 by alpha = min(|d1| / (|d1| + |d2|), alpha_max), with
overshoot eta. A point that crosses the boundary is kept if it is the closest so far and
the search steps back towards x0 by beta. Targets are the 2nd..(n_target_classes+1)-th
highest logits of the clean input; a sample counts as fooled when its closest adversarial
point lies within eps. AutoAttack's parameters: n_iter 100, alpha_max 0.1, eta 1.05,
beta 0.9, one restart (no random start). The box is mapped to [0, 1] for the projections.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.audit.evasion.torch_engine.projections import project_l2, project_linf
from dii_hpc.audit.evasion.torch_engine.target import Target, batches, per_sample_norm, sample_noise


def _view(v: Any, x: Any) -> Any:
    return v.view(-1, *[1] * (x.dim() - 1))


def _boundary(f: Any, x1: Any, y: Any, t: Any) -> tuple[Any, Any]:
    """df = z_t - z_y at x1 and its input gradient (one backward pass)."""
    import torch

    u = torch.arange(len(x1), device=x1.device)
    x1 = x1.detach().requires_grad_(True)
    with torch.enable_grad():
        z = f(x1)
        df = z[u, t] - z[u, y]
        (dg,) = torch.autograd.grad(df.sum(), [x1])
    return df.detach(), dg.detach()


def _single_run(f: Any, x0: Any, y: Any, t: Any, *, norm: Any, eps: float, n_iter: int,
                alpha_max: float, eta: float, beta: float, start: Any = None) -> Any:
    """Closest adversarial point found for each (x0, y -> t); x0 itself where none."""
    import torch

    n = len(x0)
    flat0 = x0.reshape(n, -1)
    adv, best = x0.clone(), torch.full((n,), 1e10, device=x0.device)
    x1 = x0.clone() if start is None else start
    project = project_linf if norm == np.inf else project_l2
    for _ in range(int(n_iter)):
        df, dg = _boundary(f, x1, y, t)
        w = dg.reshape(n, -1)
        b = -df + (w * x1.reshape(n, -1)).sum(1)
        d3 = project(torch.cat((x1.reshape(n, -1), flat0)), torch.cat((w, w)),
                     torch.cat((b, b)))
        d1, d2 = d3[:n].reshape(x0.shape), d3[n:].reshape(x0.shape)
        a0 = per_sample_norm(d3, norm).clamp_min(1e-8)
        a1, a2 = a0[:n], a0[n:]
        alpha = _view(torch.clamp(a1 / (a1 + a2), 0.0, float(alpha_max)), x0)
        x1 = ((x1 + eta * d1) * (1 - alpha) + (x0 + d2 * eta) * alpha).clamp(0.0, 1.0)
        with torch.no_grad():
            crossed = f(x1).argmax(1) != y
        if bool(crossed.any()):
            dist = per_sample_norm(x1 - x0, norm)
            closer = crossed & (dist < best)
            adv[closer], best[closer] = x1[closer], dist[closer]
            x1[crossed] = x0[crossed] + (x1[crossed] - x0[crossed]) * beta
    return adv


def _start(x0: Any, index: Any, norm: Any, eps: float, seed: int, extra: int) -> Any:
    """AutoAttack's random start for restarts after the first: half of eps, random direction."""
    kind = "uniform" if norm == np.inf else "normal"
    r = sample_noise(index, tuple(x0.shape[1:]), seed, "fab", kind=kind, extra=extra,
                     device=x0.device)
    r = 2 * r - 1 if norm == np.inf else r
    return (x0 + eps * r / _view(per_sample_norm(r, norm), x0) * 0.5).clamp(0.0, 1.0)


def fab_targeted(target: Target, x: Any, y: Any, *, norm: Any, eps: float, n_iter: int = 100,
                 n_restarts: int = 1, n_target_classes: int = 9, alpha_max: float = 0.1,
                 eta: float = 1.05, beta: float = 0.9, seed: int = 0, index: Any = None,
                 batch_size: int = 250) -> Any:
    """x_adv of FAB-T within eps (AutoAttack's `fab.perturb` with targeted=True)."""
    norm = np.inf if norm in (np.inf, "inf") else 2
    index = np.arange(len(x)) if index is None else np.asarray(index)
    lo, span = target.lo, target.hi - target.lo
    unit = lo == 0.0 and span == 1.0

    def f(u: Any) -> Any:  # the model seen on [0, 1]^d
        return target.logits(u if unit else lo + span * u)

    eps_u = eps / span
    adv = x.clone()
    acc = target.predict(x).argmax(1) == y
    for tc in range(2, int(n_target_classes) + 2):
        for restart in range(int(n_restarts)):
            todo = acc.nonzero().reshape(-1)
            for s in batches(len(todo), batch_size):
                ids = todo[s]
                xb, yb = x[ids], y[ids]
                ub = xb if unit else (xb - lo) / span
                t = target.predict(xb).sort(dim=1)[1][:, -tc]
                start = _start(ub, index[ids.cpu().numpy()], norm, eps_u, seed,
                               1000 * tc + restart) if restart > 0 else None
                found = _single_run(f, ub, yb, t, norm=norm, eps=eps_u, n_iter=n_iter,
                                    alpha_max=alpha_max, eta=eta, beta=beta, start=start)
                found = found if unit else (lo + span * found).clamp(target.lo, target.hi)
                fooled = (target.predict(found).argmax(1) != yb) & \
                    (per_sample_norm(found - xb, norm) <= eps)
                acc[ids[fooled]] = False
                adv[ids[fooled]] = found[fooled]
    return adv.detach()
