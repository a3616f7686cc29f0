"""Minimal-norm steps onto a hyperplane inside the unit box (FAB's projection subproblem).

For points t in [0, 1]^d and hyperplanes w.z = b, find the delta of least Linf or L2 norm
with w.(t + delta) = b and t + delta in the box; where no such delta exists, move every
coordinate as far as the box allows towards the plane. Both norms reduce to one problem:
orient w so that the plane lies where w.z decreases by c >= 0; coordinate i then moves by
an amount m_i(lambda) = min(lambda, r_i) (Linf: r_i is its room to the box face, weight
|w_i|; L2: r_i = room / |w_i|, weight w_i^2, since the KKT step is -lambda w_i clipped), and
lambda is the smallest root of sum_i q_i min(lambda, r_i) = c: a water-filling found from the
sorted breakpoints in one pass (AutoAttack's `fab_projections.py` bisects instead).
"""

from __future__ import annotations

from typing import Any


def _sort(r: Any) -> tuple[Any, Any]:
    """(r sorted along rows, the order): on the CPU numpy's vectorised argsort, several
    times faster there than torch.sort (6 vs 39 ms for 256 x 3072 floats, AVX-512); on
    other devices torch.sort. Ties may come out in another order, which changes only the
    order of the cumulative sums (the last bits of lambda)."""
    import torch

    if r.device.type == "cpu":
        import numpy as np

        order = torch.from_numpy(np.argsort(r.detach().numpy(), axis=1))
        return r.gather(1, order), order
    return torch.sort(r, dim=1)


def _waterfill(q: Any, r: Any, c: Any) -> Any:
    """Smallest lambda >= 0 with sum_i q_i min(lambda, r_i) >= c per row (inf if none)."""
    import torch

    r_s, order = _sort(r)
    q_s = q.gather(1, order)
    qr = q_s * r_s
    below = torch.cumsum(qr, dim=1).sub_(qr)                   # sum_{j<k} q_j r_j
    tail = torch.flip(torch.cumsum(torch.flip(q_s, [1]), 1), [1])  # sum_{j>=k} q_j
    reach = below + r_s * tail                                 # F(r_(k)), nondecreasing
    k = (reach < c.unsqueeze(1)).sum(1)
    feasible = k < r.shape[1]
    kk = k.clamp(max=r.shape[1] - 1).unsqueeze(1)
    b_k, t_k = below.gather(1, kk).squeeze(1), tail.gather(1, kk).squeeze(1)
    lam = torch.where(t_k > 0, (c - b_k) / torch.where(t_k > 0, t_k, torch.ones_like(t_k)),
                      torch.zeros_like(c))
    return torch.where(feasible, lam.clamp_min(0), torch.full_like(lam, float("inf")))


def _orient(t: Any, w: Any, b: Any) -> tuple[Any, Any]:
    """w flipped so that the plane lies where w.z decreases; c = w.t - b >= 0."""
    c = (w * t).sum(1) - b
    s = 2 * (c >= 0).to(w.dtype) - 1
    return w * s.unsqueeze(1), c * s


def project_linf(t: Any, w: Any, b: Any) -> Any:
    """delta of least Linf norm onto {w.z = b} within [0, 1]^d (rows are points)."""
    import torch

    w, c = _orient(t, w, b)
    room = torch.where(w > 0, t, 1 - t)
    lam = _waterfill(w.abs(), room, c)
    return -torch.sign(w) * torch.minimum(lam.unsqueeze(1), room) * (w != 0).to(t.dtype)


def project_l2(t: Any, w: Any, b: Any) -> Any:
    """delta of least L2 norm onto {w.z = b} within [0, 1]^d (rows are points)."""
    import torch

    w, c = _orient(t, w, b)
    live = w.abs() >= 1e-8
    room = torch.where(w > 0, t, 1 - t)
    safe = torch.where(live, w.abs(), torch.ones_like(w))
    r = torch.where(live, room / safe, torch.full_like(w, 1e12))
    lam = _waterfill(torch.where(live, w * w, torch.zeros_like(w)), r, c)
    return -w * torch.minimum(lam.unsqueeze(1), r) * live.to(t.dtype)
