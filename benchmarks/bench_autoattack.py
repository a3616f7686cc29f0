"""AutoAttack's standard evaluation: ours (`--standard autoattack`) vs the original (issue 29).

Both run on the same model (the same pickled `nn.Module`), the same samples and the same
device; only the evaluation is timed (model and data loaded before the clock starts).
- ours: `dii_hpc.audit.evasion.autoattack.standard.evaluate`, the library call of
  `dii-hpc audit suite evasion --standard autoattack` (attacks, then the sanity checks:
  gradient flags and the APGD-CE curve); its attack time alone is shown beside;
- the original: fra31/auto-attack's `AutoAttack(version='standard').run_standard_evaluation`
  (bs 250, seed 0), in its own virtualenv (`--original-python`, default
  /work/envs/autoattack/bin/python), started by subprocess on the saved model and samples.
Same numbers: robust accuracy within one point of the original's.
Models: `digits` (the trained demo CNN, 1x8x8, its test split) and `cifar` (a CIFAR-shaped
CNN 3x32x32 trained here on generated data: ten classes of smooth colour templates, shifted
and noisy; cached under `--cache`, so a second run reuses the weights and samples).
Writes reports/benchmarks_autoattack.md.

    .venv/bin/python benchmarks/bench_autoattack.py [--cases digits:inf:0.1,...] [--n 360]
        [--cifar-n 100] [--threads 1] [--cache DIR] [--original-python PY] [--no-report]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

CASES = "digits:inf:0.1,digits:2:1.0,cifar:inf:8/255,cifar:2:1.0"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dii-hpc" / \
    "bench_autoattack"
ORIGINAL = "/work/envs/autoattack/bin/python"
TOL = 0.01  # robust accuracy: within one point of the original's


def cifar_cnn() -> Any:
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def generated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ten classes of smooth colour templates (fixed), each sample shifted and noisy."""
    coarse = np.random.default_rng(1234).normal(size=(10, 3, 8, 8))
    templates = np.kron(coarse, np.ones((1, 1, 4, 4)))  # 3x32x32, blocky
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    shift = rng.integers(-3, 4, (n, 2))
    x = np.stack([np.roll(templates[c], tuple(s), axis=(1, 2)) for c, s in zip(y, shift,
                                                                               strict=True)])
    x = 0.5 + 0.12 * x * rng.uniform(0.6, 1.4, (n, 1, 1, 1)) + 0.08 * rng.normal(size=x.shape)
    return np.clip(x, 0, 1).astype(np.float32), y.astype(np.int64)


def _train_cifar(path: Path) -> None:
    import torch

    torch.manual_seed(0)
    module = cifar_cnn()
    x, y = (torch.as_tensor(a) for a in generated(6000, seed=1))
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    for _ in range(3):
        for idx in torch.randperm(len(x)).split(128):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(module(x[idx]), y[idx]).backward()
            opt.step()
    torch.save(module.eval(), path)


def prepare(name: str, n: int, cache: Path) -> tuple[Path, Path]:
    """(pickled module, samples .npz) of model `name`, made once under `cache`."""
    import torch

    folder = cache / name
    folder.mkdir(parents=True, exist_ok=True)
    model, data = folder / "model.pt", folder / f"samples-{n}.npz"
    if not model.exists():
        if name == "digits":
            from dii_hpc.examples.digits import digits_model

            torch.save(digits_model().module.eval(), model)
        else:
            _train_cifar(model)
    if not data.exists():
        if name == "digits":
            from dii_hpc.examples.digits import digits_data

            x, y = digits_data().get_test_data()
        else:
            x, y = generated(n, seed=2)
        np.savez(data, x=x[:n].astype(np.float32), y=y[:n].astype(np.int64))
    return model, data


def _load(model: Path, data: Path) -> tuple[Any, np.ndarray, np.ndarray]:
    import torch

    module = torch.load(model, weights_only=False).eval()
    arrays = np.load(data)
    return module, arrays["x"], arrays["y"]


def ours(model: Path, data: Path, norm: str, eps: float, threads: int) -> dict[str, Any]:
    """`--standard autoattack`'s evaluation on the saved model and samples."""
    import torch

    from dii_hpc.audit.evasion.autoattack import standard
    from dii_hpc.audit.model.wrappers import TorchModelWrapper

    torch.set_num_threads(threads)
    module, x, y = _load(model, data)
    wrapped: Any = TorchModelWrapper(module, task="image_classification", input_shape=x.shape[1:],
                                nb_classes=10, clip_values=(0.0, 1.0))
    t0 = time.perf_counter()
    out = standard.evaluate(wrapped, x, y, {"eps": eps, "norm": norm}, seed=0)
    total = time.perf_counter() - t0
    attacks = sum(a["time_s"] for a in out["attacks"])
    return {"s": total, "attacks_s": attacks, "robust": out["metrics"]["robust_accuracy"],
            "clean": out["metrics"]["clean_accuracy"],
            "per_attack": {a["name"]: (a["time_s"], a["metrics"]["robust_accuracy"])
                           for a in out["attacks"]}}


def original(model: str, data: str, norm: str, eps: float, threads: int) -> dict[str, Any]:
    """fra31/auto-attack's standard evaluation (run in the original's own virtualenv); its
    log's running total after each attack gives the time per attack."""
    import contextlib
    import io
    import re

    import torch
    from autoattack import AutoAttack

    torch.set_num_threads(threads)
    module, x, y = _load(Path(model), Path(data))
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    aa = AutoAttack(module, norm="Linf" if norm == "inf" else "L2", eps=eps,
                    version="standard", device="cpu", seed=0, verbose=True)
    log = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(log):
        adv = aa.run_standard_evaluation(xt, yt, bs=250)
    total = time.perf_counter() - t0
    done = re.findall(r"robust accuracy after (\S+): ([\d.]+)% \(total time ([\d.]+) s\)",
                      log.getvalue())
    ends = [float(t) for _, _, t in done]
    per = {name.lower(): (end - start, float(acc) / 100) for (name, acc, _), start, end in
           zip(done, [0.0, *ends], ends, strict=False)}
    with torch.no_grad():
        robust = float((module(adv).argmax(1) == yt).float().mean())
    return {"s": total, "robust": robust, "per_attack": per}


def run_original(python: str, model: Path, data: Path, norm: str, eps: float,
                 threads: int) -> dict[str, Any]:
    out = subprocess.run([python, __file__, "--as-original", str(model), str(data), norm,
                          repr(eps), str(threads)], check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _eps(text: str) -> float:
    num, _, den = text.partition("/")
    return float(num) / float(den or 1)


def measure(case: str, args: argparse.Namespace) -> dict[str, Any]:
    name, norm, eps_text = case.split(":")
    model, data = prepare(name, args.cifar_n if name == "cifar" else args.n, Path(args.cache))
    eps = _eps(eps_text)
    ref = run_original(args.original_python, model, data, norm, eps, args.threads)
    mine = ours(model, data, norm, eps, args.threads)
    return {"model": name, "norm": "Linf" if norm == "inf" else "L2", "eps": eps_text,
            "n": int(len(np.load(data)["y"])), "ours": mine, "original": ref,
            "same": abs(mine["robust"] - ref["robust"]) <= TOL + 1e-9}


def line(r: dict[str, Any]) -> str:
    o, a = r["ours"], r["original"]
    theirs = {k: v[0] for k, v in a["per_attack"].items()}
    per = ", ".join(f"{k} {theirs.get(k, 0.0):.1f} / {t:.1f}"
                    for k, (t, _) in o["per_attack"].items())
    return (f"| {r['model']} (n={r['n']}) | {r['norm']} {r['eps']} | {a['s']:.1f} | "
            f"{o['s']:.1f} | {o['attacks_s']:.1f} | x{a['s'] / o['s']:.2f} | "
            f"{a['robust']:.3f} / {o['robust']:.3f} | {'yes' if r['same'] else 'NO'} | {per} |")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--as-original":
        model, data, norm, eps, threads = sys.argv[2:7]
        print(json.dumps(original(model, data, norm, float(eps), int(threads))))
        return
    from _common import machine, write_section

    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default=CASES, help="model:norm:eps,... (norm inf or 2)")
    ap.add_argument("--n", type=int, default=360, help="digits samples (its test split: 360)")
    ap.add_argument("--cifar-n", type=int, default=100)
    ap.add_argument("--cache", default=str(CACHE))
    ap.add_argument("--original-python", default=ORIGINAL)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of both")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    rows = [measure(case, args) for case in args.cases.split(",")]
    table = ["| model | threat | original s | ours s | ours: attacks s | original / ours | "
             "robust acc original / ours | same numbers | s per attack, original / ours |",
             "|---|---|---|---|---|---|---|---|---|", *[line(r) for r in rows]]
    print("\n".join(table))
    if args.no_report:
        return
    cmd = (f"`.venv/bin/python benchmarks/bench_autoattack.py --n {args.n} --cifar-n "
           f"{args.cifar_n} --cases {args.cases}`")
    print(write_section("autoattack", [
        "## AutoAttack's standard evaluation: ours vs fra31/auto-attack (issue 29)", "",
        f"Machine: {machine()}; CPU, {args.threads} torch thread(s) each. {cmd}. One run each, "
        "evaluation only (model and samples loaded first). 'ours s' is the whole "
        "`evaluate` of `--standard autoattack` (attacks, gradient flags and the APGD-CE "
        "curve); 'attacks s' the four attacks alone; the original runs the four attacks "
        "(run_standard_evaluation, bs 250, seed 0) in its own virtualenv.", "", *table, "",
        f"Same numbers: robust accuracy within {TOL:.0%} of the original's (random starts "
        "are drawn differently: per sample from (seed, index) in ours). Ratio > 1: ours is "
        "faster. The original's time per attack is the difference of its log's running "
        "totals (its first includes its clean pass and checks). Where ours saves: untargeted "
        "APGD leaves a sample at its first adversarial iterate (the original iterates on; "
        "the same flags), the curve reuses the evaluation's APGD-CE at eps, and its other "
        "eps points drop fooled samples the same way."]))


if __name__ == "__main__":
    main()
