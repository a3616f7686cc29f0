"""Evasion engines (issue 20): PGD and C&W time of `--engine torch` vs ART vs torchattacks.

Each engine attacks the same module (its own copy, on the same device) and the same samples
with the same parameters; only generation is timed (inputs already in the engine's format:
numpy for ART, tensors on the device for the others), best of `--repeats` after a warm-up.
- PGD Linf, eps 8/255, step 2/255, `--steps` iterations, no random start (deterministic).
  Tolerance: `--engine torch` and ART agree per sample (bit-identical points on the CPU;
  on a GPU up to 1% of the samples, cuDNN's kernels differ); torchattacks within 1% (it
  clamps to the ball before the box, ART and we after).
- C&W L2, confidence 0, lr 0.01, one constant c = 1 (torchattacks has no binary search),
  `--cw-steps` iterations. `--engine torch` runs ART's algorithm (line-searched descent),
  so it must agree with ART within 2 points of robust accuracy and on >= 98% of samples
  (C&W stops on the decision boundary, where a last-bit difference can flip a sample).
  torchattacks' `CW` is another algorithm (Adam, fixed c, early abort): its robust accuracy
  and mean L2 of the successes are printed beside, not checked.
Models: `digits` (the trained demo CNN, 1x8x8, its test split) and `cifar` (a CIFAR-shaped
CNN 3x32x32, fixed random weights, uniform inputs labelled with the model's own predictions,
so clean accuracy is 100% and robust accuracy measures the attack alone).
Writes reports/benchmarks_evasion_engines.md (merged into benchmarks.md by run_all.py).

    .venv/bin/python benchmarks/bench_evasion_engines.py [--n 256] [--steps 10]
        [--cw-steps 100] [--repeats 3] [--device cpu|cuda|all] [--models digits,cifar]
        [--no-report]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_section  # noqa: E402

EPS, STEP = 8 / 255, 2 / 255
PGD_TOL, CW_ART_TOL = 0.01, 0.02


def _cifar_cnn() -> Any:
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def load(name: str, n: int) -> tuple[Any, np.ndarray, np.ndarray]:
    import torch

    if name == "digits":
        from dii_hpc.examples.digits import digits_data, digits_model

        x, y = digits_data().get_test_data()
        return digits_model().module, x[:n], y[:n]
    torch.manual_seed(0)
    module = _cifar_cnn().eval()
    x = np.random.default_rng(0).uniform(size=(n, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        y = module(torch.as_tensor(x)).argmax(1).numpy()
    return module, x, y


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _art(module: Any, x: np.ndarray, device: str) -> Any:
    import torch
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model=module, loss=torch.nn.CrossEntropyLoss(),
                             input_shape=x.shape[1:], nb_classes=10, clip_values=(0.0, 1.0),
                             device_type="gpu" if device == "cuda" else "cpu")


def engines(attack: str, module: Any, x: np.ndarray, y: np.ndarray, device: str, steps: int
            ) -> dict[str, Any]:
    """name -> zero-argument callable returning x_adv as numpy (each with its own module)."""
    import torch
    import torchattacks
    from art.attacks.evasion import CarliniL2Method, ProjectedGradientDescent

    from dii_hpc.audit.evasion.torch_engine import cw, pgd
    from dii_hpc.audit.evasion.torch_engine.target import Target

    mods = {k: copy.deepcopy(module).to(device).eval() for k in ("art", "ta", "torch")}
    clf = _art(mods["art"], x, device)
    xt = torch.as_tensor(x).to(device)
    yt = torch.as_tensor(y).long().to(device)
    target = Target(mods["torch"], torch.device(device), 0.0, 1.0, 10)
    n = len(x)
    if attack == "pgd":
        art = ProjectedGradientDescent(clf, norm=np.inf, eps=EPS, eps_step=STEP, max_iter=steps,
                                       num_random_init=0, batch_size=n, verbose=False)
        ta = torchattacks.PGD(mods["ta"], eps=EPS, alpha=STEP, steps=steps, random_start=False)
        ours = lambda: pgd.pgd(target, xt, yt, norm=np.inf, eps=EPS, eps_step=STEP,  # noqa: E731
                               max_iter=steps, num_random_init=0, batch_size=n)
    else:
        art = CarliniL2Method(clf, confidence=0.0, learning_rate=0.01, binary_search_steps=1,
                              max_iter=steps, initial_const=1.0, batch_size=n, verbose=False)
        ta = torchattacks.CW(mods["ta"], c=1.0, kappa=0, steps=steps, lr=0.01)
        ours = lambda: cw.carlini_l2(target, xt, yt, confidence=0.0,  # noqa: E731
                                     learning_rate=0.01, binary_search_steps=1, max_iter=steps,
                                     initial_const=1.0, batch_size=n)
    return {"ART": lambda: art.generate(x=x, y=y),
            "torchattacks": lambda: ta(xt, yt).detach().cpu().numpy(),
            "--engine torch": lambda: ours().detach().cpu().numpy(),
            "_module": mods["torch"]}


def measure(attack: str, model: str, device: str, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    module, x, y = load(model, args.n)
    steps = args.steps if attack == "pgd" else args.cw_steps
    runs = engines(attack, module, x, y, device, steps)
    judge = runs.pop("_module")
    out: dict[str, Any] = {"attack": attack, "model": model, "device": device, "n": len(x),
                           "steps": steps}
    for name, fn in runs.items():
        fn()  # warm-up (cuDNN autotune, ART's first-call setup)
        best, adv = float("inf"), None
        for _ in range(args.repeats):
            _sync(device)
            t0 = time.perf_counter()
            adv = fn()
            _sync(device)
            best = min(best, time.perf_counter() - t0)
        with torch.no_grad():
            pred = judge(torch.as_tensor(adv).to(device)).argmax(1).cpu().numpy()
        ok = pred == y
        l2 = np.linalg.norm((adv - x).reshape(len(x), -1), axis=1)
        out[name] = {"s": best, "robust": float(ok.mean()), "ok": ok,
                     "l2": float(l2[~ok].mean()) if (~ok).any() else 0.0}
    ref, ours = out["ART"], out["--engine torch"]
    agree = float((ref["ok"] == ours["ok"]).mean())
    tol = PGD_TOL if attack == "pgd" else CW_ART_TOL
    ta_ok = attack != "pgd" or abs(out["torchattacks"]["robust"] - ours["robust"]) <= tol
    out["agree"] = agree
    out["same_numbers"] = (abs(ref["robust"] - ours["robust"]) <= tol and agree >= 1 - tol
                           and ta_ok)
    return out


def line(r: dict[str, Any]) -> str:
    a, t, o = r["ART"], r["torchattacks"], r["--engine torch"]
    return (f"| {r['device']} | {r['model']} (n={r['n']}) | {r['attack']} x{r['steps']} | "
            f"{a['s']:.3f} | {t['s']:.3f} | {o['s']:.3f} | x{a['s'] / o['s']:.1f} | "
            f"x{t['s'] / o['s']:.2f} | {a['robust']:.3f} / {t['robust']:.3f} / {o['robust']:.3f} | "
            f"{r['agree']:.1%} | {'yes' if r['same_numbers'] else 'NO'} |"
            + (f" {a['l2']:.3f} / {t['l2']:.3f} / {o['l2']:.3f} |" if r["attack"] == "cw" else
               " |"))


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--cw-steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="all", choices=("cpu", "cuda", "all"))
    ap.add_argument("--models", default="digits,cifar")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    rows = [measure(attack, model, device, args) for device in devices
            for model in args.models.split(",") for attack in ("pgd", "cw")]
    head = ["| device | model | attack | ART s | torchattacks s | --engine torch s | "
            "ART / torch | torchattacks / torch | robust acc ART / TA / torch | "
            "ART = torch per sample | same numbers | C&W mean L2 ART / TA / torch |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    table = head + [line(r) for r in rows]
    print("\n".join(table))
    if args.no_report:
        return
    gpu = torch.cuda.get_device_name(0) if "cuda" in devices else "none"
    cmd = ("`.venv/bin/python benchmarks/bench_evasion_engines.py "
           f"--n {args.n} --steps {args.steps} --cw-steps {args.cw_steps} "
           f"--repeats {args.repeats} --device {args.device} --models {args.models}`")
    print(write_section("evasion_engines", [
        "## Evasion engines: `--engine torch` vs ART vs torchattacks (issue 20)", "",
        f"Machine: {machine()}; GPU: {gpu}. {cmd}; generation time only, best of "
        f"{args.repeats} after a warm-up; PGD Linf eps 8/255 step 2/255 without random start, "
        "C&W L2 c=1 lr 0.01 confidence 0.", "", *table, "",
        f"Same numbers: PGD robust accuracy within {PGD_TOL:.0%} across the three and ART = "
        f"torch per sample on >= {1 - PGD_TOL:.0%} of samples (bit-identical on the CPU); C&W "
        f"(ART's algorithm in torch) within {CW_ART_TOL:.0%} of ART and on >= "
        f"{1 - CW_ART_TOL:.0%} of samples; torchattacks' C&W is another algorithm (Adam, "
        "fixed c, early abort), shown not checked. Ratios > 1: `--engine torch` is faster."]))


if __name__ == "__main__":
    main()
