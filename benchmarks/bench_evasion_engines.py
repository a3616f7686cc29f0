"""Evasion engines (issues 20, 29): an attack step of `--engine torch` against the model's own
forward+backward, against torchattacks and against ART, with the numbers compared.

Per model and attack: the time per iteration of `--engine torch` divided by the model's own
forward + input-gradient backward on the same batch (`torch.autograd.grad` of the mean
cross-entropy, as many passes as the attack has iterations, timed alternately with the attack
in the same process: the least any gradient step can cost; issue 29 asks <= 1.15), the same for torchattacks (its own process), our time over torchattacks', and
"same numbers":
- `pgd` (Linf, no random start, deterministic): ART per sample (>= 99% of samples, robust
  accuracy within 1 point) and torchattacks' PGD within 1 point;
- `apgd-art-ce` / `apgd-art-dlr` (ART's AutoPGD, the catalogue's `apgd`): ART per sample, both
  started at x (ART's random start zeroed, as tests/audit/test_torch_engine.py does);
- `apgd-ce`, `apgd-dlr`, `apgd-t` (AutoAttack's APGD, one target class) against torchattacks'
  port of AutoAttack (`APGD`, `APGDT`): robust accuracy within 3 points (both draw a random
  start, from different generators); `fab-t` (FAB-T, one target, no random start) against
  torchattacks' `FAB` per sample (>= 98%).
An iteration's time counts everything the attack does (AutoAttack's APGD: n_iter + 1 forwards,
n_iter backwards - AutoAttack takes a gradient at the last iterate too, which no step uses -
and one clean forward; FAB-T one forward and one backward per iteration plus a forward of the
points that crossed the boundary, which step back; AutoAttack's own FAB pays a second forward
of every point). Times: best of `--repeats` after a warm-up, `--threads` intra-op
threads in both processes. torchattacks runs in its own environment (`--ta-python`, default
/work/envs/torchattacks: torch 2.13.0 CPU + torchattacks, never the project's venv).
Models (trained, cached under the per-user cache): `digits` (the demo CNN on scikit-learn's
digits) and `cifar` (a CIFAR-shaped CNN, 3x32x32, trained in this benchmark on generated
images: ten classes of smooth colour templates under pixel noise); the attacked samples are test
samples the model classifies correctly, so every attack runs on the whole batch.

    .venv/bin/python benchmarks/bench_evasion_engines.py [--n 128] [--steps 20] [--repeats 2]
        [--models digits,cifar] [--attacks pgd,...] [--threads 1] [--marginal K]
        [--channels-last] [--no-report]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

EPS = {"digits": 0.1, "cifar": 12 / 255}
ATTACKS = ("pgd", "apgd-art-ce", "apgd-art-dlr", "apgd-ce", "apgd-dlr", "apgd-t", "fab-t")
TOL = {"pgd": 0.01, "apgd-art-ce": 0.01, "apgd-art-dlr": 0.01, "apgd-ce": 0.03,
       "apgd-dlr": 0.03, "apgd-t": 0.03, "fab-t": 0.02}
TA_PYTHON = "/work/envs/torchattacks/bin/python"
CIFAR_RECIPE = {"n_train": 3000, "epochs": 4, "lr": 1e-3, "batch": 64, "seed": 0, "noise": 0.3}


def cifar_cnn() -> Any:
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def cifar_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ten classes of smooth 3x32x32 templates (4x4 colour patterns, upsampled) plus noise."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(12345)  # the classes: the same for every split
    templates = F.interpolate(torch.rand((10, 3, 4, 4), generator=gen) - 0.5, size=(32, 32),
                              mode="bilinear", align_corners=False)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    noise = rng.normal(0, CIFAR_RECIPE["noise"], (n, 3, 32, 32)).astype(np.float32)
    x = np.clip(0.5 + 0.6 * templates.numpy()[y] + noise, 0, 1).astype(np.float32)
    return x, y.astype(np.int64)


def trained_cifar() -> Any:
    """The CIFAR-shaped CNN trained on `cifar_data` (cached under the per-user cache)."""
    import hashlib
    import json

    import torch

    from dii_hpc.cache import cache_dir

    tag = hashlib.sha256(json.dumps(CIFAR_RECIPE, sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir("bench-evasion") / f"cifar-cnn-{tag}.pt"
    torch.manual_seed(CIFAR_RECIPE["seed"])
    module = cifar_cnn()
    if path.exists():
        module.load_state_dict(torch.load(path, weights_only=True))
        return module.eval()
    x, y = (torch.as_tensor(a) for a in cifar_data(CIFAR_RECIPE["n_train"], 1))
    opt = torch.optim.Adam(module.parameters(), lr=CIFAR_RECIPE["lr"])
    for _ in range(CIFAR_RECIPE["epochs"]):
        for idx in torch.randperm(len(x)).split(CIFAR_RECIPE["batch"]):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(module(x[idx]), y[idx]).backward()
            opt.step()
    torch.save(module.state_dict(), path)
    return module.eval()


def load(name: str, n: int) -> tuple[Any, np.ndarray, np.ndarray, float]:
    """(module, x, y, clean accuracy): n test samples the model classifies correctly."""
    import torch

    if name == "digits":
        from dii_hpc.examples.digits import digits_data, digits_model

        x, y = digits_data().get_test_data()
        module = digits_model().module.eval()
    else:
        module = trained_cifar()
        x, y = cifar_data(4 * n, 2)
    with torch.no_grad():
        right = module(torch.as_tensor(x)).argmax(1).numpy() == y
    return module, x[right][:n], y[right][:n], float(right.mean())


def best(fn: Any, repeats: int) -> tuple[float, Any]:
    """(best seconds of `repeats` calls after a warm-up, the last result)."""
    out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def fwd_bwd(module: Any, x: Any, y: Any, passes: int) -> Any:
    """`passes` forwards + input-gradient backwards of the batch: the model's own cost."""
    import torch
    import torch.nn.functional as F

    def run() -> None:
        for _ in range(passes):
            leaf = x.detach().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(module(leaf), y), [leaf])

    return run


def paired(fn: Any, base: Any, repeats: int) -> tuple[float, float, Any]:
    """(best seconds of fn, best seconds of base, fn's result): the two alternate after a
    warm-up, so a busy moment of the machine falls on both alike."""
    out = fn()
    base()
    a, b = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        a.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        base()
        b.append(time.perf_counter() - t0)
    return min(a), min(b), out


def ours(attack: str, target: Any, x: Any, y: Any, eps: float, steps: int) -> Any:
    from dii_hpc.audit.evasion.torch_engine import apgd, apgd_art, fab, pgd

    if attack == "pgd":
        return lambda: pgd.pgd(target, x, y, norm=np.inf, eps=eps, eps_step=eps / 4,
                               max_iter=steps)
    if attack.startswith("apgd-art"):
        kind = "cross_entropy" if attack.endswith("ce") else "difference_logits_ratio"
        return lambda: apgd_art.apgd(target, x, y, norm=np.inf, eps=eps, eps_step=eps / 4,
                                     max_iter=steps, nb_random_init=0, loss_type=kind)
    if attack == "fab-t":
        return lambda: fab.fab_targeted(target, x, y, norm=np.inf, eps=eps, n_iter=steps,
                                        n_target_classes=1)
    loss = {"apgd-ce": "ce", "apgd-dlr": "dlr", "apgd-t": "dlr-targeted"}[attack]
    return lambda: apgd.apgd(target, x, y, norm=np.inf, eps=eps, n_iter=steps, loss=loss,
                             n_target_classes=1)


def art(attack: str, module: Any, x: np.ndarray, y: np.ndarray, eps: float, steps: int) -> Any:
    """ART's generate for the attacks ART has (PGD, its AutoPGD started at x), else None."""
    if attack != "pgd" and not attack.startswith("apgd-art"):
        return None
    from unittest import mock

    import art.attacks.evasion.auto_projected_gradient_descent as apgd_module
    import torch
    from art.attacks.evasion import AutoProjectedGradientDescent, ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    clf = PyTorchClassifier(model=module, loss=torch.nn.CrossEntropyLoss(),
                            input_shape=x.shape[1:], nb_classes=10, clip_values=(0.0, 1.0))
    if attack == "pgd":
        a = ProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=eps / 4,
                                     max_iter=steps, num_random_init=0, batch_size=len(x),
                                     verbose=False)
        return lambda: a.generate(x=x, y=y)
    kind = "cross_entropy" if attack.endswith("ce") else "difference_logits_ratio"
    b = AutoProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=eps / 4,
                                     max_iter=steps, nb_random_init=1, batch_size=len(x),
                                     loss_type=kind, verbose=False)

    def run() -> Any:
        with mock.patch.object(apgd_module, "random_sphere",
                               lambda n, m, radius, norm: np.zeros((n, m))):
            return b.generate(x=x, y=y)

    return run


def ta_jobs(attacks: list[str], eps: float, steps: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """torchattacks' class and arguments for each attack it has (AutoAttack's ports)."""
    jobs = {"pgd": ("PGD", {"eps": eps, "alpha": eps / 4, "steps": steps,
                            "random_start": False}),
            "apgd-ce": ("APGD", {"eps": eps, "steps": steps, "loss": "ce"}),
            "apgd-dlr": ("APGD", {"eps": eps, "steps": steps, "loss": "dlr"}),
            "apgd-t": ("APGDT", {"eps": eps, "steps": steps, "n_classes": 2}),  # one target
            "fab-t": ("FAB", {"eps": eps, "steps": steps, "multi_targeted": True,
                              "n_classes": 2})}
    return {a: jobs[a] for a in attacks if a in jobs}


def ta_worker(inp: str, out: str) -> None:
    """Run in the torchattacks environment: time each job and the model's fwd+bwd there."""
    import torch
    import torchattacks

    job = torch.load(inp, weights_only=False)
    torch.set_num_threads(job["threads"])
    module, x, y = job["module"].eval(), job["x"], job["y"]
    res: dict[str, Any] = {}
    for name, (cls, kw) in job["jobs"].items():
        attack = getattr(torchattacks, cls)(module, **kw)
        s, base, adv = paired(lambda a=attack: a(x, y), fwd_bwd(module, x, y, kw["steps"]),
                              job["repeats"])
        res[name] = {"s": s, "base_s": base / kw["steps"], "adv": adv.detach()}
    torch.save(res, out)


def torchattacks_runs(module: Any, x: np.ndarray, y: np.ndarray, jobs: dict[str, Any],
                      args: argparse.Namespace) -> dict[str, Any]:
    import torch

    if not jobs or not Path(args.ta_python).exists():
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = os.path.join(tmp, "in.pt"), os.path.join(tmp, "out.pt")
        torch.save({"module": module, "x": torch.as_tensor(x), "y": torch.as_tensor(y),
                    "jobs": jobs, "threads": args.threads, "repeats": args.repeats}, inp)
        subprocess.run([args.ta_python, __file__, "--ta-worker", inp, out], check=True)
        return dict(torch.load(out, weights_only=False))


def measure(model: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch

    from dii_hpc.audit.evasion.torch_engine.target import Target

    module, x, y, clean = load(model, args.n)
    if args.channels_last:  # as a user would convert the model in its factory
        module = module.to(memory_format=torch.channels_last)
    eps, steps = EPS[model], args.steps
    xt, yt = torch.as_tensor(x), torch.as_tensor(y).long()
    target = Target(module, torch.device("cpu"), 0.0, 1.0, 10)
    attacks = [a for a in args.attacks.split(",") if a]
    ta = torchattacks_runs(module, x, y, ta_jobs(attacks, eps, steps), args)

    def judge(adv: Any) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(module(torch.as_tensor(adv)).argmax(1).numpy() == y)

    rows = []
    for attack in attacks:
        s, base, adv = paired(ours(attack, target, xt, yt, eps, steps),
                              fwd_bwd(module, xt, yt, steps), args.repeats)
        ok = judge(adv.detach())
        row = {"model": model, "attack": attack, "n": len(x), "steps": steps, "eps": eps,
               "clean": clean, "s": s, "robust": float(ok.mean()), "base_s": base / steps}
        ref = art(attack, module, x, y, eps, steps)
        if ref is not None:
            row["art_s"], art_adv = best(ref, args.repeats)
            art_ok = judge(art_adv)
            row["art_robust"], row["art_agree"] = float(art_ok.mean()), \
                float((art_ok == ok).mean())
        if attack in ta:
            ta_ok = judge(ta[attack]["adv"])
            row.update(ta_s=ta[attack]["s"], ta_base_s=ta[attack]["base_s"],
                       ta_robust=float(ta_ok.mean()), ta_agree=float((ta_ok == ok).mean()))
        if args.marginal > 1:
            row.update(marginal(attack, target, xt, yt, eps, steps, args, module))
        row["same"] = same_numbers(row)
        rows.append(row)
        print(line(row), flush=True)
    return rows


def marginal(attack: str, target: Any, x: Any, y: Any, eps: float, steps: int,
             args: argparse.Namespace, module: Any) -> dict[str, float]:
    """The cost of one more step: the attack at `steps` and at `marginal * steps` iterations,
    each paired with as many model passes; (long - short) / (the iterations between) is a
    step's own time, free of what a call pays once (the clean forward, the random start,
    AutoAttack's forward of the last iterate, the batch set-up). `fixed_passes`: that once-per-call
    part in model forward+backward passes."""
    long_steps = steps * args.marginal
    s_long, base_long, _ = paired(ours(attack, target, x, y, eps, long_steps),
                                  fwd_bwd(module, x, y, long_steps), args.repeats)
    s_short, base_short, _ = paired(ours(attack, target, x, y, eps, steps),
                                    fwd_bwd(module, x, y, steps), args.repeats)
    base = min(base_long / long_steps, base_short / steps)
    step = (s_long - s_short) / (long_steps - steps)
    return {"long_steps": long_steps, "step_s": step, "pass_s": base,
            "fixed_passes": (s_short - steps * step) / base,
            "short_ratio": s_short / steps / base, "long_ratio": s_long / long_steps / base}


def marginal_line(r: dict[str, Any]) -> str:
    return (f"| {r['model']} | {r['attack']} | {r['pass_s'] * 1e3:.2f} | "
            f"{r['step_s'] * 1e3:.2f} | **{r['step_s'] / r['pass_s']:.2f}** | "
            f"{r['fixed_passes']:.1f} | {r['short_ratio']:.2f} | {r['long_ratio']:.2f} |")


MARGINAL_HEAD = ["| model | attack | fwd+bwd ms | ms per step (marginal) | step / fwd+bwd | "
                 "once per call, in fwd+bwd passes | whole / fwd+bwd, x{short} | "
                 "whole / fwd+bwd, x{long} |", "|---|---|---|---|---|---|---|---|"]


def same_numbers(r: dict[str, Any]) -> bool:
    """The checks of the module docstring, per attack."""
    tol = TOL[r["attack"]]
    checks = []
    if "art_robust" in r:
        checks += [abs(r["art_robust"] - r["robust"]) <= tol, r["art_agree"] >= 1 - tol]
    if "ta_robust" in r:
        checks.append(abs(r["ta_robust"] - r["robust"]) <= tol)
        if r["attack"] == "fab-t":
            checks.append(r["ta_agree"] >= 1 - tol)
    return bool(checks) and all(checks)


def line(r: dict[str, Any]) -> str:
    step, ta = r["s"] / r["steps"], r.get("ta_s")
    ta_cells = (f"{ta / r['steps'] / r['ta_base_s']:.2f} | {r['s'] / ta:.2f} |" if ta else
                "- | - |")
    art_s = f"{r['art_s']:.2f}" if "art_s" in r else "-"
    refs = " / ".join(f"{k} {r[k + '_robust']:.3f}" for k in ("art", "ta") if k + "_robust" in r)
    return (f"| {r['model']} (n={r['n']}, eps {r['eps']:.3g}) | {r['attack']} x{r['steps']} | "
            f"{r['base_s'] * 1e3:.2f} | {step * 1e3:.2f} | **{step / r['base_s']:.2f}** | "
            f"{ta_cells} {r['s']:.2f} | {ta or 0:.2f} | {art_s} | {r['robust']:.3f} ({refs}) | "
            f"{'yes' if r['same'] else 'NO'} |")


HEAD = ["| model | attack | fwd+bwd ms | torch ms / iteration | torch / fwd+bwd | "
        "torchattacks / its fwd+bwd | torch / torchattacks | torch s | torchattacks s | ART s | "
        "robust acc torch (ART / torchattacks) | same numbers |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default="digits,cifar")
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--ta-python", default=TA_PYTHON)
    ap.add_argument("--marginal", type=int, default=0, metavar="K",
                    help="also time each attack at K x --steps iterations: a step's own cost")
    ap.add_argument("--channels-last", action="store_true",
                    help="convert the model to channels-last first (ours, the bare passes, ART "
                         "and torchattacks all attack it so)")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--ta-worker", nargs=2, metavar=("IN", "OUT"))
    args = ap.parse_args()
    if args.ta_worker:
        ta_worker(*args.ta_worker)
        return
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine, write_section

    torch.set_num_threads(args.threads)
    print("\n".join(HEAD), flush=True)
    rows = [r for model in args.models.split(",") for r in measure(model, args)]
    steps_table = []
    if args.marginal > 1:
        head = [h.format(short=args.steps, long=args.steps * args.marginal)
                for h in MARGINAL_HEAD]
        steps_table = ["", f"A step's own cost (marginal: the attack at {args.steps} and "
                       f"{args.steps * args.marginal} iterations, the difference over the "
                       "iterations between):", "", *head, *(marginal_line(r) for r in rows)]
        print("\n".join(steps_table), flush=True)
    if args.no_report:
        return
    worst = max(r["s"] / r["steps"] / r["base_s"] for r in rows)
    cmd = (f"`.venv/bin/python benchmarks/bench_evasion_engines.py --n {args.n} --steps "
           f"{args.steps} --repeats {args.repeats} --threads {args.threads} --models "
           f"{args.models} --attacks {args.attacks} --marginal {args.marginal}`")
    print(write_section("evasion_speed", [
        "## An attack step at the model's cost: `--engine torch` vs the model's forward+backward,"
        " torchattacks and ART (issue 29)", "",
        f"Machine: {machine()}, CPU, {args.threads} intra-op thread(s); {cmd}. Linf; best of "
        f"{args.repeats} after a warm-up; ms per iteration = the attack's whole time / its "
        "iterations. Clean accuracy of the models on their test samples: "
        + ", ".join(sorted({f"{r['model']} {r['clean']:.1%}" for r in rows})) + ".", "",
        *HEAD, *(line(r) for r in rows), *steps_table, "",
        f"Largest torch / fwd+bwd: {worst:.2f}. Same numbers: see the benchmark's docstring "
        "(PGD and ART's AutoPGD per sample against ART; AutoAttack's APGD within 3 points of "
        "torchattacks' port, FAB-T per sample)."]))


if __name__ == "__main__":
    main()
