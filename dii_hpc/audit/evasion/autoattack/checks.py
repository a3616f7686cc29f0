"""AutoAttack's checks (fra31/auto-attack `checks.py`) as sanity flags of the evasion report.

Each flag has the suite's form {"flag", "ok", "detail"}; `ok: false` means the robust
accuracy may be an overestimate and says why:
- randomised_defence: repeated predictions of the same inputs differ (the standard is then
  rerun as AutoAttack's version 'rand', with EOT; the flag says so);
- outputs_are_probabilities: the model returns a distribution (softmax before the loss),
  which flattens cross-entropy gradients; attack the logits instead;
- zero_gradients: samples whose DLR input gradient (cross-entropy below 3 classes) is all
  zero or vanishing (first-order change of the loss over the eps ball below `VANISHING`):
  masked or shattered gradients;
- black_box_beats_white_box: Square broke samples the white-box attacks could not;
- non_monotone_curve: robust accuracy under APGD-CE does not fall as eps grows.
Per-sample parts (gradients, curve flags) are computed per sample block and merged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

REPEATS = 5          # forward passes compared by the randomisation check
RANDOM_ALPHA = 1e-4  # AutoAttack's tolerance on normalised outputs
PROB_ALPHA = 1e-5    # tolerance on "sums to one and lies in [0, 1]"
SQUARE_ALPHA = 0.002  # AutoAttack: Square may lower robust accuracy by at most 0.2 points
VANISHING = 1e-4     # first-order DLR change over the eps ball below this: vanishing
CURVE_TOL = 0.02     # robust accuracy may rise this much between eps (sampling noise)


def randomised(target: Any, x: Any) -> dict[str, Any]:
    """Predict the same inputs REPEATS times: any change in outputs or labels flags."""
    import torch

    outs = []
    with torch.no_grad():
        for _ in range(REPEATS):
            z = target.predict(x)
            outs.append(z / (z.norm(dim=1, keepdim=True) + 1e-10))
    labels = {tuple(o.argmax(1).tolist()) for o in outs}
    diff = max(float((a - b).norm(dim=1).max()) for i, a in enumerate(outs)
               for b in outs[i + 1:]) if len(x) else 0.0
    hit = len(labels) > 1 or diff > RANDOM_ALPHA
    return {"flag": "randomised_defence", "ok": not hit,
            "detail": (f"{REPEATS} predictions of the same {len(x)} inputs differ (max change "
                       f"of the normalised output {diff:.2g})" if hit else
                       f"{REPEATS} predictions of the same {len(x)} inputs agree")}


def probabilities(target: Any, x: Any) -> dict[str, Any]:
    """Outputs in [0, 1] that sum to one: the module applies softmax itself."""
    z = target.predict(x)
    hit = bool(len(x)) and float(z.max()) < 1 + PROB_ALPHA and float(z.min()) > -PROB_ALPHA \
        and bool(((z.sum(-1) - 1).abs() < PROB_ALPHA).all())
    return {"flag": "outputs_are_probabilities", "ok": not hit,
            "detail": ("the model's outputs are probabilities (softmax before the loss): "
                       "gradients of cross-entropy vanish; audit the logits" if hit else
                       "the model's outputs are logits (not a probability distribution)")}


def gradient_flags(target: Any, x: Any, y: Any, eps: float, norm: Any) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """Per sample: (input gradient all zero, first-order change over the ball < VANISHING).

    The loss is DLR (scale-free: a confident logit does not flatten it), cross-entropy for
    models with fewer than three classes, where DLR is not defined."""
    import torch
    import torch.nn.functional as F

    from dii_hpc.audit.evasion.torch_engine.apgd import dlr

    if len(x) == 0:
        return np.zeros(0, bool), np.zeros(0, bool)
    loss = dlr if target.nb_classes >= 3 else \
        (lambda z, t: F.cross_entropy(z, t, reduction="none"))
    xg = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(loss(target.logits(xg), y).sum(), [xg])
    flat = g.reshape(len(g), -1)
    dual = flat.abs().sum(1) if norm in (np.inf, "inf") else flat.norm(dim=1)
    zero = (flat == 0).all(1)
    return zero.cpu().numpy(), ((dual * eps < VANISHING) & ~zero).cpu().numpy()


def zero_gradients(zero: np.ndarray, vanishing: np.ndarray) -> dict[str, Any]:
    n = max(len(zero), 1)
    hit = bool(zero.any() or vanishing.any())
    return {"flag": "zero_gradients", "ok": not hit,
            "detail": f"{int(zero.sum())} of {len(zero)} samples ({zero.sum() / n:.1%}) have an "
                      f"all-zero input gradient of the loss (DLR), {int(vanishing.sum())} a "
                      f"vanishing one (first-order change over the eps ball < {VANISHING:g})"}


def black_box(after: dict[str, float]) -> dict[str, Any] | None:
    """AutoAttack's check_square_sr on the robust accuracy after each attack (in order)."""
    if "square" not in after or len(after) < 2:
        return None
    white = min(v for k, v in after.items() if k != "square")
    gain = white - after["square"]
    return {"flag": "black_box_beats_white_box", "ok": gain <= SQUARE_ALPHA,
            "detail": f"Square lowered robust accuracy from {white:.3f} to {after['square']:.3f} "
                      "after the white-box attacks" + (" (gradient masking?)" if gain >
                                                       SQUARE_ALPHA else "")}


def curve(points: list[dict[str, float]]) -> dict[str, Any] | None:
    """Robust accuracy must fall (or stay at 0) as eps grows."""
    if len(points) < 2:
        return None
    accs = [p["robust_accuracy"] for p in points]
    rises = any(b > a + CURVE_TOL for a, b in zip(accs, accs[1:], strict=False))
    flat = accs[0] > 0 and accs[-1] >= accs[0] - CURVE_TOL
    ok = not (rises or flat)
    how = "rises" if rises else ("does not fall" if flat else "falls")
    return {"flag": "non_monotone_curve", "ok": ok,
            "detail": f"APGD-CE robust accuracy {how} from {accs[0]:.3f} to {accs[-1]:.3f} as eps "
                      f"grows {points[0]['eps']:.4g} -> {points[-1]['eps']:.4g}"}
