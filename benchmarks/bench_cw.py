"""C&W L2: `--engine torch` (ART's algorithm) vs torchattacks per optimisation iteration (#29).

The two are different algorithms (see `dii_hpc/audit/evasion/torch_engine/cw.py`): ART's
searches c per sample and line-searches every step's rate (forward passes at trial rates),
torchattacks takes one Adam step at a fixed c (one forward and one backward). So both run
one round at the same fixed c = 1 (`binary_search_steps=1`, lr 0.01, confidence 0) for
`--iters` iterations on the same model and samples, and the table gives:
- ms per iteration of each, and their ratio;
- the model's own work per iteration: ours counted (sample-forwards under a graph, each
  with its one backward, and trial forwards without one), torchattacks one forward and
  backward of the batch; priced with the model's forward and forward+backward times
  measured here on the batch;
- time per unit of that work (overhead over the model): ours / torchattacks' is the
  "per iteration of comparable work" figure (target <= 1.5).
torchattacks runs in the virtualenv of `--other-python` (it is not a dependency of dii-hpc),
by subprocess on the pickled module and samples of `bench_autoattack.prepare`.
Writes reports/benchmarks_cw.md.

    .venv/bin/python benchmarks/bench_cw.py [--models digits,cifar] [--n 100] [--iters 50]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_autoattack import CACHE, ORIGINAL, _load, prepare  # noqa: E402


def pass_times(module: Any, x: Any, repeats: int = 5) -> tuple[float, float]:
    """(forward s, forward + input-gradient backward s) of the batch, best of `repeats`."""
    import torch

    fwd, both = float("inf"), float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        with torch.inference_mode():
            module(x)
        fwd = min(fwd, time.perf_counter() - t0)
        xg = x.clone().requires_grad_(True)
        t0 = time.perf_counter()
        torch.autograd.grad(module(xg).sum(), [xg])
        both = min(both, time.perf_counter() - t0)
    return fwd, both


def torchattacks_run(model: str, data: str, n: int, iters: int) -> dict[str, Any]:
    """torchattacks' CW at c = 1 (in its own virtualenv); it stops early when its loss
    stops falling, so its iterations are counted (forwards under a graph)."""
    import torch
    import torchattacks

    torch.set_num_threads(1)
    module, x, y = _load(Path(model), Path(data))
    xt, yt = torch.as_tensor(x[:n]), torch.as_tensor(y[:n])
    attack = torchattacks.CW(module, c=1.0, kappa=0, steps=iters, lr=0.01)
    attack(xt[:2], yt[:2])  # warm-up
    done = [0]
    module.register_forward_hook(lambda *_: done.__setitem__(0, done[0] + torch.is_grad_enabled()))
    t0 = time.perf_counter()
    adv = attack(xt, yt)
    elapsed = time.perf_counter() - t0
    fwd, both = pass_times(module, xt)
    with torch.no_grad():
        robust = float((module(adv).argmax(1) == yt).float().mean())
    return {"s": elapsed, "fwd": fwd, "both": both, "robust": robust, "iters": done[0]}


def ours_run(model: Path, data: Path, n: int, iters: int) -> dict[str, Any]:
    import torch

    from dii_hpc.audit.evasion.torch_engine import cw
    from dii_hpc.audit.evasion.torch_engine.target import Target

    torch.set_num_threads(1)
    module, x, y = _load(model, data)
    xt, yt = torch.as_tensor(x[:n]), torch.as_tensor(y[:n]).long()
    target = Target(module, torch.device("cpu"), 0.0, 1.0, 10)
    kw: dict[str, Any] = {"learning_rate": 0.01, "binary_search_steps": 1, "max_iter": iters,
          "initial_const": 1.0, "batch_size": n}
    cw.carlini_l2(target, xt[:2], yt[:2], **{**kw, "max_iter": 2})  # warm-up
    t0 = time.perf_counter()
    cw.carlini_l2(target, xt, yt, **kw)
    elapsed = time.perf_counter() - t0
    count = {True: 0, False: 0}

    def counted(v: Any) -> Any:
        count[torch.is_grad_enabled()] += len(v)
        return module(v)

    target.logits = counted  # type: ignore[method-assign,assignment]
    adv = cw.carlini_l2(target, xt, yt, **kw)
    fwd, both = pass_times(module, xt)
    with torch.no_grad():
        robust = float((module(adv).argmax(1) == yt).float().mean())
    return {"s": elapsed, "fwd": fwd, "both": both, "robust": robust,
            "graph": count[True] / n / iters, "trial": count[False] / n / iters}


def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    model, data = prepare(name, max(args.n, 100), Path(args.cache))
    out = subprocess.run([args.other_python, __file__, "--as-torchattacks", str(model),
                          str(data), str(args.n), str(args.iters)], check=True,
                         capture_output=True, text=True)
    ta = json.loads(out.stdout.strip().splitlines()[-1])
    mine = ours_run(model, data, args.n, args.iters)
    ours_model = mine["graph"] * mine["both"] + mine["trial"] * mine["fwd"]
    return {"model": name, "n": args.n, "iters": args.iters, "ours": mine, "ta": ta,
            "ours_ms": 1000 * mine["s"] / args.iters, "ta_ms": 1000 * ta["s"] / ta["iters"],
            "ours_over": mine["s"] / args.iters / ours_model,
            "ta_over": ta["s"] / ta["iters"] / mine["both"]}


def line(r: dict[str, Any]) -> str:
    o, t = r["ours"], r["ta"]
    return (f"| {r['model']} (n={r['n']}) | {t['iters']} / {r['iters']} | "
            f"{o['both'] * 1000:.1f} / "
            f"{o['fwd'] * 1000:.1f} | {r['ta_ms']:.1f} | {r['ours_ms']:.1f} | "
            f"x{r['ours_ms'] / r['ta_ms']:.2f} | 1 + 1 bwd | {o['graph']:.2f} + "
            f"{o['graph']:.2f} bwd + {o['trial']:.2f} | {r['ta_over']:.2f} | "
            f"{r['ours_over']:.2f} | x{r['ours_over'] / r['ta_over']:.2f} | "
            f"{t['robust']:.2f} / {o['robust']:.2f} |")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--as-torchattacks":
        model, data, n, iters = sys.argv[2:6]
        print(json.dumps(torchattacks_run(model, data, int(n), int(iters))))
        return
    from _common import machine, write_section

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="digits,cifar")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--cache", default=str(CACHE))
    ap.add_argument("--other-python", default=ORIGINAL, help="a python with torchattacks")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    rows = [measure(name, args) for name in args.models.split(",")]
    table = ["| model | iterations run, torchattacks / ours | model fwd+bwd / fwd ms | torchattacks ms/iter | ours "
             "ms/iter | ours / torchattacks | model passes per sample-iter, torchattacks | "
             "ours (graph fwd + bwd + trial fwd) | torchattacks time / its model work | "
             "ours time / its model work | ratio of the two (target <= 1.5) | robust acc "
             "TA / ours |", "|---|---|---|---|---|---|---|---|---|---|---|---|",
             *[line(r) for r in rows]]
    print("\n".join(table))
    if args.no_report:
        return
    print(write_section("cw", [
        "## C&W L2 per optimisation iteration: `--engine torch` (ART's algorithm) vs "
        "torchattacks (issue 29)", "",
        f"Machine: {machine()}; CPU, one torch thread each. `.venv/bin/python "
        f"benchmarks/bench_cw.py --models {args.models} --n {args.n} --iters {args.iters}`; "
        "one round at c = 1, lr 0.01, confidence 0, the whole batch at once; "
        "torchattacks stops early once its loss stops falling (every steps/10), so its "
        "ms/iter is over the iterations it ran.", "", *table, "",
        "ART's algorithm does more model work per iteration than torchattacks' (its line "
        "search evaluates trial rates: forwards without a graph); 'time / model work' "
        "divides each one's time by the model passes it made, priced at the model's own "
        "forward and forward+backward times on the batch. Robust accuracy differs because "
        "the algorithms do (fixed-c Adam vs line-searched descent); `--engine torch` gives "
        "ART's numbers (tests/audit/test_torch_engine.py)."]))


if __name__ == "__main__":
    main()
