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

from dii_hpc.audit.evasion.torch_engine.batching import size
from dii_hpc.audit.evasion.torch_engine.projections import project_l2, project_linf
from dii_hpc.audit.evasion.torch_engine.target import Target, batches, per_sample_norm, sample_noise


def _view(v: Any, x: Any) -> Any:
    return v.view(-1, *[1] * (x.dim() - 1))


class _Point:
    """The logits of the current points with their graph, kept for the next gradient.

    FAB evaluates the model at each new point twice in the reference implementation: once
    to see whether it crossed the boundary, once (with a graph) for the next linearisation.
    Here the first forward keeps its graph; only the rows that crossed (and so step back
    towards x0 by beta) are evaluated again, and when most did, the whole batch is."""

    def __init__(self, f: Any, x1: Any, graph: bool) -> None:
        self.f = f
        self.rows: Any = None  # indices evaluated apart (`sub`), or None
        self.sub: Any = None
        self.leaf, self.z = _forward(f, x1, graph)

    def redo(self, x1: Any, rows: Any) -> None:
        """x1 changed at `rows` (indices): their logits again, with a graph."""
        if 2 * len(rows) > len(x1):
            self.leaf, self.z = _forward(self.f, x1, True)
            self.rows = None
        else:
            self.rows, self.sub = rows, _forward(self.f, x1[rows], True)

    def boundary(self, y: Any, t: Any) -> tuple[Any, Any]:
        """df = z_t - z_y at the points and its input gradient (one backward pass)."""
        import torch

        u = torch.arange(len(self.z), device=self.z.device)
        df = self.z[u, t] - self.z[u, y]
        if self.rows is None:
            (dg,) = torch.autograd.grad(df.sum(), [self.leaf])
            return df.detach(), dg
        rows, (leaf, z) = self.rows, self.sub
        keep = torch.ones_like(df).index_fill_(0, rows, 0.0)
        v = torch.arange(len(rows), device=z.device)
        d_sub = z[v, t[rows]] - z[v, y[rows]]
        dg, dg_sub = torch.autograd.grad((df * keep).sum() + d_sub.sum(), [self.leaf, leaf])
        df = df.detach().index_copy_(0, rows, d_sub.detach())
        return df, dg.index_copy_(0, rows, dg_sub)


def _forward(f: Any, x: Any, graph: bool) -> tuple[Any, Any]:
    """(input leaf, logits): with the graph for a gradient, else under inference mode."""
    import torch

    if not graph:
        with torch.inference_mode():
            return None, f(x)
    leaf = x.detach().requires_grad_(True)
    with torch.enable_grad():
        return leaf, f(leaf)


def _single_run(f: Any, x0: Any, y: Any, t: Any, *, norm: Any, eps: float, n_iter: int,
                alpha_max: float, eta: float, beta: float, start: Any = None) -> Any:
    """Closest adversarial point found for each (x0, y -> t); x0 itself where none.

    One forward and one backward per iteration (`_Point`), plus a forward of the rows
    that crossed the boundary."""
    import torch

    n = len(x0)
    flat0 = x0.reshape(n, -1)
    adv, best = x0.clone(), torch.full((n,), 1e10, device=x0.device)
    x1 = x0.clone() if start is None else start
    project = project_linf if norm == np.inf else project_l2
    point = _Point(f, x1, n_iter > 0)
    for it in range(int(n_iter)):
        df, dg = point.boundary(y, t)
        w = dg.reshape(n, -1)
        b = -df + (w * x1.reshape(n, -1)).sum(1)
        d3 = project(torch.cat((x1.reshape(n, -1), flat0)), torch.cat((w, w)),
                     torch.cat((b, b)))
        d1, d2 = d3[:n].reshape(x0.shape), d3[n:].reshape(x0.shape)
        a0 = per_sample_norm(d3, norm).clamp_min(1e-8)
        a1, a2 = a0[:n], a0[n:]
        alpha = _view(torch.clamp(a1 / (a1 + a2), 0.0, float(alpha_max)), x0)
        x1 = ((x1 + eta * d1) * (1 - alpha) + (x0 + d2 * eta) * alpha).clamp(0.0, 1.0)
        point = _Point(f, x1, it < n_iter - 1)
        crossed = point.z.argmax(1) != y
        if bool(crossed.any()):
            dist = per_sample_norm(x1 - x0, norm)
            closer = crossed & (dist < best)
            adv[closer], best[closer] = x1[closer], dist[closer]
            x1 = torch.where(_view(crossed, x1), x0 + (x1 - x0) * beta, x1)  # the graph keeps x1
            if it < n_iter - 1:
                point.redo(x1, crossed.nonzero().reshape(-1))
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
                 batch_size: int | None = None) -> Any:
    """x_adv of FAB-T within eps (AutoAttack's `fab.perturb` with targeted=True)."""
    norm = np.inf if norm in (np.inf, "inf") else 2
    index = np.arange(len(x)) if index is None else np.asarray(index)
    batch_size = batch_size or size(target, x)
    lo, span = target.lo, target.hi - target.lo
    unit = lo == 0.0 and span == 1.0

    def f(u: Any) -> Any:  # the model seen on [0, 1]^d
        return target.logits(u if unit else lo + span * u)

    eps_u = eps / span
    adv = x.clone()
    clean = target.predict(x)
    acc = clean.argmax(1) == y
    for tc in range(2, int(n_target_classes) + 2):
        for restart in range(int(n_restarts)):
            todo = acc.nonzero().reshape(-1)
            for s in batches(len(todo), batch_size):
                ids = todo[s]
                xb, yb = x[ids], y[ids]
                ub = xb if unit else (xb - lo) / span
                t = clean[ids].sort(dim=1)[1][:, -tc]
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
