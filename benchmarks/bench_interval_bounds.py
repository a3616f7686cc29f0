"""Bound propagation (`interval_bounds`, issue 31): speed, tightness against PGD, and ART's IBP.

1. For the two digits models bound propagation supports (`tests/audit/certification/models`:
   an MLP and a CNN with BatchNorm and average pooling, trained with N(0, 0.25^2) noise),
   CROWN and IBP at Linf and L2: samples per second of the whole attack (per-sample radius
   by 16 bisection steps, plus the radii), certified accuracy at each radius, and beside it
   the robust accuracy PGD finds (torch engine, 40 steps, 3 restarts): the true robust
   accuracy lies between the two.
2. ART 1.20's `PyTorchIBPClassifier` on the same MLP written the way ART converts it
   (Linear/ReLU children on flat inputs): its Linf logit intervals against ours (IBP), and
   its time. Writes reports/benchmarks_interval_bounds.md.

    .venv/bin/python benchmarks/bench_interval_bounds.py [--samples 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

import numpy as np  # noqa: E402
from _common import write_section  # noqa: E402

RADII = {"inf": [0.02, 0.05, 0.1], "2": [0.25, 0.5, 0.75]}


def _data(samples: int) -> tuple[np.ndarray, np.ndarray]:
    from dii_hpc.examples.digits import digits_data

    x, y = digits_data().get_test_data()
    return x[:samples], y[:samples]


def certify_rows(samples: int) -> list[str]:
    from dii_hpc.audit.certification import interval
    from dii_hpc.audit.evasion.torch_engine.pgd import pgd
    from dii_hpc.audit.evasion.torch_engine.target import of
    from dii_hpc.audit.specs import shape_of
    from tests.audit.certification.models import digits_net

    x, y = _data(samples)
    rows = ["| model | norm | method | samples/s | certified accuracy at radii | PGD robust accuracy |",
            "|---|---|---|---|---|---|"]
    for arch in ("mlp", "cnn"):
        model = digits_net(arch=arch)
        target = of(model)
        for norm, radii in RADII.items():
            attacked = []
            for r in radii:
                adv = pgd(target, target.tensor(x), target.labels(y), norm=np.inf if norm == "inf"
                          else 2, eps=r, eps_step=r / 8, max_iter=40, num_random_init=3)
                attacked.append(float((target.predict(adv).argmax(1).numpy() == y).mean()))
            for method in ("crown", "ibp"):
                opts = interval.options(shape_of(model), {"norm": norm, "radii": radii,
                                                          "method": method})
                t0 = time.perf_counter()
                pred, _, at = interval.certify(model, x, opts)
                rate = len(x) / (time.perf_counter() - t0)
                cert = [float(((pred == y) & at[r]).mean()) for r in radii]
                rows.append(f"| {arch} | L{norm} | {method} | {rate:.1f} | "
                            + ", ".join(f"{c:.3f} @ {r:g}" for c, r in zip(cert, radii, strict=True))
                            + " | " + ", ".join(f"{a:.3f}" for a in attacked) + " |")
            print(rows[-2], rows[-1], sep="\n", flush=True)
    return rows


def art_rows(samples: int) -> list[str]:
    """ART's IBP on the MLP as ART converts it, against our IBP logit bounds."""
    import torch
    from art.estimators.certification.interval import PyTorchIBPClassifier

    from dii_hpc.audit.certification.bounds import Region, lower_bounds, network
    from tests.audit.certification.models import digits_net

    x, _ = _data(samples)
    module = digits_net(arch="mlp").module
    flat = torch.nn.Sequential(*list(module)[1:]).eval()  # no Flatten: ART refuses it
    art = PyTorchIBPClassifier(flat, torch.nn.CrossEntropyLoss(), input_shape=(64,),
                               nb_classes=10, clip_values=(0.0, 1.0))
    net = network(module, (1, 8, 8))
    xf = x.reshape(len(x), -1)
    rows = ["| Linf eps | ART IBP s | ours (IBP) s | largest difference of logit bounds |",
            "|---|---|---|---|"]
    for eps in (0.01, 0.05):
        t0 = time.perf_counter()
        theirs = art.predict_intervals(xf, bounds=eps, limits=[0.0, 1.0])  # (N, 2, K)
        t_art = time.perf_counter() - t0
        t0 = time.perf_counter()
        xt = torch.as_tensor(xf, dtype=torch.float64)
        spec = torch.eye(10, dtype=torch.float64).expand(len(xf), -1, -1)
        region = Region(xt, torch.full((len(xf),), eps, dtype=torch.float64), np.inf, 0.0, 1.0)
        with torch.no_grad():
            lo, hi = lower_bounds(net, region, spec, "ibp"), -lower_bounds(net, region, -spec,
                                                                            "ibp")
        t_ours = time.perf_counter() - t0
        diff = max(np.abs(theirs[:, 0] - lo.numpy()).max(), np.abs(theirs[:, 1] - hi.numpy()).max())
        rows.append(f"| {eps:g} | {t_art:.3f} | {t_ours:.3f} | {diff:.2e} |")
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args(argv)
    lines = [f"## interval_bounds on digits ({args.samples} test samples, one torch thread)", "",
             *certify_rows(args.samples), "",
             "Certified accuracy is a lower bound of the robust accuracy, PGD's an upper bound.",
             "", "## Against ART 1.20's PyTorchIBPClassifier (the MLP, Linf)", "",
             *art_rows(args.samples), "",
             "ART computes in float32, this in float64: the bounds agree to float32 rounding."]
    print(write_section("interval_bounds", lines))


if __name__ == "__main__":
    main()
