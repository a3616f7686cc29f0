"""`--mpi N`: shard the evaluation set of evasion (and label-only) attacks over N MPI ranks.

The CLI process starts `mpirun -n N python -m dii_hpc.audit.placement.mpi JOB OUT`; every rank builds
the same model and data (deterministic), generates adversarial examples for its contiguous
run of randomness blocks (`dii_hpc.audit.core.randomness`: each block has its own seed derived
from the audit seed) and all-gathers them, so scoring sees exactly the single-process
x_adv for every attack, random starts included. The privacy suite's label-only attack
shards the same way; its other attacks are cheap and run on every rank. Rank 0 writes
the result; the parent persists it (ranks never touch the store).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput, DiiError, InfraError

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.job import AuditJob


def mpirun_command(n: int, job_path: str, out_path: str) -> list[str]:
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise InfraError("--mpi needs `mpirun` on PATH (Debian: openmpi-bin)")
    return [mpirun, "--allow-run-as-root", "--oversubscribe", "-n", str(n),
            sys.executable, "-m", "dii_hpc.audit.placement.mpi", job_path, out_path]


def run(n: int, job: AuditJob, examples_dir: str | None = None,
        timeout: float | None = None) -> dict[str, Any]:
    """Run `job` on n ranks and return rank 0's result (errors keep their exit class)."""
    if n < 1:
        raise BadInput(f"--mpi {n}: needs at least 1 rank")
    with tempfile.TemporaryDirectory(prefix="dii-hpc-mpi-") as tmp:
        job_path, out_path = os.path.join(tmp, "job.json"), os.path.join(tmp, "out.json")
        with open(job_path, "w") as fh:
            json.dump({"job": job.to_json(), "examples_dir": examples_dir}, fh)
        proc = subprocess.run(mpirun_command(n, job_path, out_path), capture_output=True,
                              text=True, timeout=timeout)
        if os.path.exists(out_path):
            with open(out_path) as fh:
                out = json.load(fh)
            if "error" in out:
                cls = BadInput if out["exit_code"] == 2 else InfraError
                raise cls(out["error"])
            return out["result"]
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise InfraError(f"mpirun exited {proc.returncode} without a result: {tail[0]}")


def sharded_generator(comm: Any) -> Any:
    """A drop-in for `evasion.generate`: each rank generates its own contiguous run of
    randomness blocks and all ranks all-gather them (in rank order = block order)."""
    import numpy as np

    from dii_hpc.audit.core import randomness
    from dii_hpc.audit.evasion import generate as evasion

    def generate(attack: Any, x: Any, y: Any, seed: int, label: str) -> Any:
        ids = randomness.owned(len(x), comm.Get_rank(), comm.Get_size())
        part = evasion.generate(attack, x, y, seed, label, ids)
        return np.concatenate(comm.allgather(part)).astype(np.float32)

    return generate


def main(argv: list[str]) -> int:
    """Rank body: compute the job with a sharded generator; rank 0 writes the outcome."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    _share_cores(comm.Get_size())
    with open(argv[0]) as fh:
        raw = json.load(fh)
    outcome: dict[str, Any]
    try:
        from dii_hpc.audit import engine
        from dii_hpc.audit.core import results
        from dii_hpc.audit.job import AuditJob

        result = engine.compute(AuditJob.from_json(raw["job"]),
                                generator=sharded_generator(comm),
                                examples_dir=raw.get("examples_dir") if rank == 0 else None)
        outcome = {"result": results.clean_json(result)}
    except DiiError as err:
        outcome = {"error": str(err).splitlines()[0], "exit_code": err.exit_code}
    except Exception as err:  # noqa: BLE001 - reported to the parent as one line
        outcome = {"error": f"{type(err).__name__}: {err}", "exit_code": 3}
    if rank == 0:
        from dii_hpc.store.atomic import write_json

        write_json(argv[1], outcome)
    return 0


def _share_cores(size: int) -> None:
    """N ranks on one node: give each its share of the cores instead of N x all of them."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // size))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
