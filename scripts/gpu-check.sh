#!/usr/bin/env bash
# Checks that need a CUDA GPU, for a machine that has one (a lent GPU node, a cluster node).
# Each area keeps its check in its own function named <area>_cuda_check; with no argument all
# of them run, else the ones named:
#
#   scripts/gpu-check.sh                     every check
#   scripts/gpu-check.sh audit_cuda_check    one of them
#
# A check prints what it compared and exits non-zero on a mismatch; without CUDA it says SKIP.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PY=${DII_HPC_PYTHON:-$ROOT/.venv/bin/python}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

# --- audit (issue 20): a PGD audit on CUDA vs the CPU ------------------------------------
# The torch engine's PGD (no random start) on the digits CNN, once with the module on the CPU
# and once on cuda:0, through `evasion.run_named` (the level II path, scoring included):
# same robust accuracy within 1% and per-sample outcomes agreeing on >= 99% of the samples
# (cuDNN's kernels round differently from the CPU's); the ART engine stays on the CPU.
audit_cuda_check() {
  "$PY" - <<'EOF'
import copy, sys, time

import torch

if not torch.cuda.is_available():
    print("audit_cuda_check: SKIP (no CUDA)")
    sys.exit(0)

from dii_hpc.audit import evasion, prepare
from dii_hpc.audit.wrappers import TorchModelWrapper

prep = prepare.prepare({"model": "dii_hpc.examples.digits:digits_model",
                        "data": "dii_hpc.examples.digits:digits_data", "n_samples": 360,
                        "seed": 0})
params = {"eps": 8 / 255, "eps_step": 2 / 255, "max_iter": 40, "num_random_init": 0}
out = {}
for device in ("cpu", "cuda"):
    module = copy.deepcopy(prep.model.module).to(device)
    model = TorchModelWrapper(module, task="image_classification", input_shape=(1, 8, 8),
                              nb_classes=10, clip_values=(0.0, 1.0))
    evasion.run_named(model, prep.x[:8], prep.y[:8], "pgd", dict(params), engine="torch")
    t0 = time.perf_counter()
    record, ok, _ = evasion.run_named(model, prep.x, prep.y, "pgd", dict(params),
                                      engine="torch")
    out[device] = (record["metrics"]["robust_accuracy"], ok, time.perf_counter() - t0)
(cpu_acc, cpu_ok, cpu_s), (gpu_acc, gpu_ok, gpu_s) = out["cpu"], out["cuda"]
agree = float((cpu_ok == gpu_ok).mean())
print(f"audit_cuda_check: PGD x40 on {len(cpu_ok)} digits ({torch.cuda.get_device_name(0)}): "
      f"robust accuracy CPU {cpu_acc:.4f} vs CUDA {gpu_acc:.4f}, per-sample agreement "
      f"{agree:.1%}; {cpu_s:.2f} s CPU, {gpu_s:.2f} s CUDA")
if abs(cpu_acc - gpu_acc) > 0.01 or agree < 0.99:
    print("audit_cuda_check: FAILED (CUDA and CPU disagree)")
    sys.exit(1)
print("audit_cuda_check: ok")
EOF
}

# --- cluster (issue 15): DDP with nccl on the GPUs present, against one CPU process -------------
# One rank per GPU (torchrun's variables, as `dii-hpc run --nodes 1 --tasks-per-node N` sets
# them): an nccl all-reduce of the ranks' ids must give their sum, then the digits CNN of
# configs/ddp-2nodes.yaml (dii_hpc.examples.digits_ddp) trains 8 epochs on the GPUs and once in
# one CPU process; validation accuracy within 2 points. One GPU still goes through nccl (world 1).
ddp_cuda_check() {
  "$PY" - <<'EOF'
import os, socket, sys, time

import torch
import torch.multiprocessing as mp


def rank_main(rank, world, port, queue):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    import torch.distributed as dist

    from dii_hpc import distributed
    from dii_hpc.examples.digits import Digits
    from dii_hpc.examples.digits_ddp import DDPCNN

    if world == 1:  # a group of one still goes through nccl
        torch.cuda.set_device(0)
        dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    else:
        distributed.init_process_group()
    t = torch.tensor([float(rank)], device=distributed.device())
    dist.all_reduce(t)
    backend = dist.get_backend()
    dist.destroy_process_group()
    os.environ["MASTER_PORT"] = str(port + 1)
    t0 = time.perf_counter()
    out = DDPCNN(width=16).train_function(Digits().get_dataset(), None, epochs=8,
                                          out_dir=f"/tmp/ddp-check-{rank}")
    queue.put((rank, backend, float(t.item()), out.get("val_acc"), time.perf_counter() - t0))


if __name__ == "__main__":
    if not torch.cuda.is_available():
        print("ddp_cuda_check: SKIP (no CUDA)")
        sys.exit(0)
    world = torch.cuda.device_count()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=rank_main, args=(r, world, port, queue)) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode for p in procs):
        print("ddp_cuda_check: FAILED (a rank exited non-zero)")
        sys.exit(1)
    res = sorted(queue.get() for _ in range(world))
    name = torch.cuda.get_device_name(0)
    from dii_hpc.examples.digits import Digits
    from dii_hpc.examples.digits_ddp import DDPCNN

    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        os.environ.pop(k, None)
    torch.cuda.is_available = lambda: False  # the reference: one CPU process
    t0 = time.perf_counter()
    cpu = DDPCNN(width=16).train_function(Digits().get_dataset(), None, epochs=8,
                                          out_dir="/tmp/ddp-check-cpu")
    cpu_s = time.perf_counter() - t0
    _, backend, total, acc, gpu_s = res[0]
    want = world * (world - 1) / 2
    print(f"ddp_cuda_check: {world} rank(s) on {name}, backend {backend}, all-reduce {total} "
          f"(want {want}); val_acc {acc:.4f} on GPU in {gpu_s:.1f} s vs {cpu['val_acc']:.4f} in "
          f"one CPU process in {cpu_s:.1f} s")
    if backend != "nccl" or any(r[2] != want for r in res) or abs(acc - cpu["val_acc"]) > 0.02:
        print("ddp_cuda_check: FAILED")
        sys.exit(1)
    print("ddp_cuda_check: ok")
EOF
}

# --- inference (issues 7, 15): `dii-hpc predict` on CUDA vs the CPU ----------------------------
# The demo MLP over 200,000 generated rows, --device cpu then --device cuda (local executor):
# predicted labels agree on >= 99.9% and every output within 1e-4; end-to-end time of each.
predict_cuda_check() {
  "$PY" - <<'EOF'
import subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

if not torch.cuda.is_available():
    print("predict_cuda_check: SKIP (no CUDA)")
    sys.exit(0)
import zarr

work = Path(tempfile.mkdtemp(prefix="dii-predict-check-"))
x = np.random.default_rng(0).normal(size=(200_000, 20)).astype(np.float32)
np.savez(work / "rows.npz", x=x)
dii = str(Path(sys.executable).with_name("dii-hpc"))
took = {}
for device in ("cpu", "cuda"):
    t0 = time.perf_counter()
    subprocess.run([dii, "--store", str(work / "store"), "predict", "--model",
                    "dii_hpc.inference.demo:mlp", "--data", str(work / "rows.npz"),
                    "--out", str(work / device), "--device", device, "--executor", "local"],
                   check=True)
    took[device] = time.perf_counter() - t0
cpu, gpu = (zarr.open_group(str(work / d), mode="r") for d in ("cpu", "cuda"))
names = sorted(k for k, _ in cpu.arrays())
agree = float((cpu["prediction"][:] == gpu["prediction"][:]).mean())
diff = max((float(np.abs(cpu[n][:] - gpu[n][:]).max()) for n in names if n != "prediction"),
           default=0.0)
print(f"predict_cuda_check: 200,000 rows; labels agree {agree:.4%}, max output difference "
      f"{diff:.2e}; {took['cpu']:.1f} s CPU vs {took['cuda']:.1f} s CUDA (end to end)")
if agree < 0.999 or diff > 1e-4:
    print("predict_cuda_check: FAILED")
    sys.exit(1)
print("predict_cuda_check: ok")
EOF
}

main() {
  local checks=("$@")
  if [ ${#checks[@]} -eq 0 ]; then
    mapfile -t checks < <(declare -F | awk '{print $3}' | grep '_cuda_check$')
  fi
  for check in "${checks[@]}"; do
    "$check"
  done
}

main "$@"
