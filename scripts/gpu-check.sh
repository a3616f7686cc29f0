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
