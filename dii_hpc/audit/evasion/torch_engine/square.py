"""Square Attack (Andriushchenko et al. 2020), score-based, as AutoAttack runs it.

Linf: start from vertical stripes of +-eps, then each query adds a random square of
+-2 eps (one sign per channel) to the best point, projected back; L2: a centred pattern
of tiles, then squares whose mass moves between two windows, renormalised to the eps
sphere. A candidate is kept when the margin loss z_y - max_{j != y} z_j falls or the point
is misclassified; the square side follows p_init's schedule over the queries (AutoAttack:
p_init 0.8, 5,000 queries, `resc_schedule=False`). Square positions, signs and pattern
orientations of one query are drawn once and shared by every sample (as in AutoAttack's
port): a sample's own random process is unchanged by that, and its outcome then depends
on nothing but itself. Only the starting stripes/tiles are drawn per sample. Inputs that
are not (C, H, W) images are attacked as 1 x d images.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dii_hpc.audit.evasion.torch_engine.target import Target, batches, sample_noise, stream

THRESHOLDS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def p_selection(p_init: float, it: int, n_queries: int, rescale: bool = False) -> float:
    """Fraction of pixels in the square at query `it`: halves past each threshold."""
    if rescale:
        it = int(it / n_queries * 10000)
    return p_init / 2 ** sum(it > th for th in THRESHOLDS)


def _margin(f: Any, x: Any, y: Any) -> Any:
    import torch

    with torch.no_grad():
        z = f(x)
    u = torch.arange(len(z), device=z.device)
    right = z[u, y].clone()
    z[u, y] = -float("inf")
    return right - z.max(dim=-1)[0]


def _signs(g: Any, shape: tuple[int, ...], device: Any) -> Any:
    import torch

    return torch.sign(2 * torch.rand(shape, generator=g) - 1).to(device)


def _int(g: Any, low: int, high: int) -> int:
    import torch

    return int(low + (high - low) * float(torch.rand(1, generator=g)))


def _rectangles(a: int, b: int) -> Any:
    import torch

    delta = torch.zeros(a, b)
    ca, cb = a // 2, b // 2  # first ring starts at the centre
    for ring in range(max(a // 2 + 1, b // 2 + 1)):
        delta[max(ca, 0):min(ca + 2 * ring + 1, a), max(cb, 0):min(cb + 2 * ring + 1, b)] += \
            1.0 / (ring + 1) ** 2
        ca, cb = ca - 1, cb - 1
    return delta / delta.pow(2).sum().sqrt().clamp_min(1e-12)


def _eta(s: int, g: Any, device: Any) -> Any:
    """The L2 pattern of side s: two opposite halves of decaying rings, random orientation."""
    import torch

    delta = torch.zeros(s, s)
    delta[: s // 2] = _rectangles(s // 2, s)
    delta[s // 2:] = -_rectangles(s - s // 2, s)
    delta = delta / delta.pow(2).sum().sqrt()
    if float(torch.rand(1, generator=g)) > 0.5:
        delta = delta.t()
    return delta.to(device)


def _l2(v: Any) -> Any:
    return v.reshape(len(v), -1).pow(2).sum(-1).sqrt().view(-1, 1, 1, 1)


def _init_linf(x: Any, index: Any, eps: float, seed: int, lo: float, hi: float) -> Any:
    import torch

    c, _, w = x.shape[1:]
    stripes = torch.sign(2 * sample_noise(index, (c, 1, w), seed, "square",
                                          device=x.device) - 1)
    return torch.clamp(x + eps * stripes, lo, hi)


def _init_l2(x: Any, index: Any, eps: float, seed: int, g: Any, lo: float, hi: float) -> Any:
    import torch

    c, h, w = x.shape[1:]
    s = max(h // 5, 1)
    start = (h - s * 5) // 2 if h >= 5 else 0
    tiles = [(vh, vw) for vh in range(start, start + s * (h // s), s)
             for vw in range(start, start + s * (w // s), s)]
    signs = torch.sign(2 * sample_noise(index, (len(tiles), c), seed, "square",
                                        device=x.device) - 1)
    delta = torch.zeros_like(x)
    for k, (vh, vw) in enumerate(tiles):
        delta[:, :, vh:vh + s, vw:vw + s] += _eta(s, g, x.device).view(1, 1, s, s) * \
            signs[:, k].view(-1, c, 1, 1)
    return torch.clamp(x + delta / _l2(delta).clamp_min(1e-12) * eps, lo, hi)


def _candidate_linf(xc: Any, best: Any, eps: float, p: float, g: Any, lo: float,
                    hi: float) -> Any:
    import torch

    c, h, w = xc.shape[1:]
    s = min(max(int(round(math.sqrt(p * h * w))), 1), h, w)
    vh, vw = _int(g, 0, h - s), _int(g, 0, w - s)
    new = torch.zeros((c, h, w), device=xc.device)
    new[:, vh:vh + s, vw:vw + s] = 2.0 * eps * _signs(g, (c, 1, 1), xc.device)
    x_new = torch.min(torch.max(best + new, xc - eps), xc + eps)
    return torch.clamp(x_new, lo, hi)


def _candidate_l2(xc: Any, best: Any, eps: float, p: float, g: Any, lo: float,
                  hi: float) -> Any:
    import torch

    c, h, w = xc.shape[1:]
    s = max(int(round(math.sqrt(p * h * w))), 3)
    s = min(s + 1 if s % 2 == 0 else s, h, w)
    vh, vw = _int(g, 0, h - s), _int(g, 0, w - s)
    vh2, vw2 = _int(g, 0, h - s), _int(g, 0, w - s)
    delta = best - xc
    win1 = delta[:, :, vh:vh + s, vw:vw + s]
    norm1 = win1.pow(2).sum(dim=(-2, -1), keepdim=True).sqrt()
    mask = torch.zeros_like(xc)
    mask[:, :, vh:vh + s, vw:vw + s] = 1.0
    mask[:, :, vh2:vh2 + s, vw2:vw2 + s] = 1.0
    norms_windows = (delta * mask).pow(2).sum(dim=(-2, -1), keepdim=True).sqrt()
    new = _eta(s, g, xc.device).view(1, 1, s, s) * _signs(g, (1, c, 1, 1), xc.device)
    new = new + win1 / (1e-12 + norm1)
    room = torch.clamp(eps ** 2 - _l2(delta) ** 2, min=0) / c + norms_windows ** 2
    new = new / (1e-12 + new.pow(2).sum(dim=(-2, -1), keepdim=True).sqrt()) * room.sqrt()
    delta[:, :, vh2:vh2 + s, vw2:vw2 + s] = 0.0
    delta[:, :, vh:vh + s, vw:vw + s] = new
    return torch.clamp(xc + delta / (_l2(delta) + 1e-12) * eps, lo, hi)


def _single_run(f: Any, x: Any, y: Any, index: Any, *, norm: Any, eps: float, n_queries: int,
                p_init: float, seed: int, lo: float, hi: float, rescale: bool) -> Any:
    g = stream(seed, "square")
    best = _init_linf(x, index, eps, seed, lo, hi) if norm == np.inf else \
        _init_l2(x, index, eps, seed, g, lo, hi)
    margin = _margin(f, best, y)
    loss = margin.clone()
    candidate = _candidate_linf if norm == np.inf else _candidate_l2
    for it in range(int(n_queries)):
        todo = (margin > 0.0).nonzero().reshape(-1)
        if not len(todo):
            break
        xc, bc, yc = x[todo], best[todo], y[todo]
        x_new = candidate(xc, bc, eps, p_selection(p_init, it, n_queries, rescale), g, lo, hi)
        m_new = _margin(f, x_new, yc)
        better = m_new < loss[todo]
        loss[todo] = (better.float() * m_new + (1 - better.float()) * loss[todo])
        better = better | (m_new <= 0.0)
        margin[todo] = better.float() * m_new + (1 - better.float()) * margin[todo]
        best[todo] = better.float().view(-1, 1, 1, 1) * x_new + \
            (1 - better.float()).view(-1, 1, 1, 1) * bc
    return best


def square(target: Target, x: Any, y: Any, *, norm: Any, eps: float, n_queries: int = 5000,
           p_init: float = 0.8, n_restarts: int = 1, rescale_schedule: bool = False,
           seed: int = 0, index: Any = None, batch_size: int = 250) -> Any:
    """x_adv of AutoAttack's Square (untargeted, margin loss) on the samples still robust."""
    norm = np.inf if norm in (np.inf, "inf") else 2
    index = np.arange(len(x)) if index is None else np.asarray(index)
    shape = tuple(x.shape[1:])
    four = x if x.dim() == 4 else x.reshape(len(x), *(((1, 1) if x.dim() == 2 else
                                                        (shape[0], 1)) + (shape[-1],)))

    def f(v: Any) -> Any:
        return target.logits(v.reshape(len(v), *shape))

    adv = four.clone()
    acc = target.predict(x).argmax(1) == y
    for restart in range(int(n_restarts)):
        todo = acc.nonzero().reshape(-1)
        for s in batches(len(todo), batch_size):
            ids = todo[s]
            found = _single_run(f, four[ids], y[ids], index[ids.cpu().numpy()], norm=norm,
                                eps=eps, n_queries=n_queries, p_init=p_init,
                                seed=seed + 7919 * restart, lo=target.lo, hi=target.hi,
                                rescale=rescale_schedule)
            fooled = f(found).argmax(1) != y[ids]
            acc[ids[fooled]] = False
            adv[ids[fooled]] = found[fooled]
    return adv.reshape(x.shape).detach()
