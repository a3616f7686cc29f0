"""One rank of a multi-rank `dii-hpc run`: `python -m dii_hpc.launch.rank -- CMD ...`.

srun (or, without Slurm, the launcher itself) starts this wrapper once per rank.  It runs the
command as its child and keeps what only a process on that node can know: the node's system
metrics under `sys/<node>/` (local rank 0 only, written to arrays of their own) and the rank's
end state with its last error line (`tracking.ranks`), which the launcher turns into the run's
status.  The command's own `dii_hpc.log_metric` attaches to the run as that rank.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dii_hpc.errors import InfraError
from dii_hpc.slurm.preempt import preempt_signal

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.launch.sysmetrics import SystemSampler
    from dii_hpc.store.store import Store
    from dii_hpc.tracking.run import Run


def last_error_line(path: Path, limit: int = 64 << 10) -> str | None:
    """The last non-empty line of a log (its tail only: logs can be large)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - limit))
            lines = [ln.strip() for ln in fh.read().decode(errors="replace").splitlines()]
    except OSError:
        return None
    lines = [ln for ln in lines if ln]
    return lines[-1][:500] if lines else None


def _node_sampler(store: Store, run_id: str, interval: float) -> tuple[SystemSampler, Run]:
    from dii_hpc import distributed
    from dii_hpc.launch.sysmetrics import SystemSampler
    from dii_hpc.store import records
    from dii_hpc.tracking.run import Run

    writer = Run(store, records.read_record(store.run_dir(run_id)), resumed=True,
                 owns_status=False, writes_record=False)
    # Every rank on this node is a child of our parent (slurmstepd, or the local launcher).
    pid = os.getppid()
    sampler = SystemSampler(lambda m, _s: writer.log_metrics(m), interval, pid=pid,
                            prefix=f"sys/{distributed.node_name()}/").start()
    return sampler, writer


def main(argv: list[str] | None = None) -> int:
    from dii_hpc import distributed
    from dii_hpc.store.store import Store
    from dii_hpc.tracking import ranks

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    run_id = os.environ.get("DII_HPC_RUN_ID")
    if not args or not run_id:
        print("usage: DII_HPC_RUN_ID=... python -m dii_hpc.launch.rank -- CMD ...", file=sys.stderr)
        return 2
    store = Store(os.environ.get("DII_HPC_STORE"))
    dist = distributed.env()
    interval = float(os.environ.get("DII_HPC_SYS_METRICS_S") or 0)
    node: tuple[SystemSampler, Run] | None = None
    error: str | None
    if dist.local_rank == 0 and interval > 0:
        node = _node_sampler(store, run_id, interval)
    stopped: list[int] = []  # signals from outside: srun ending this rank, a cancel
    try:
        child = subprocess.Popen(args)
    except OSError as exc:
        print(f"dii-hpc run: cannot start {args[0]!r}: {exc}", file=sys.stderr)
        code, error = 127, f"cannot start {args[0]!r}: {exc}"
    else:
        def forward(sig: int, _frame: object) -> None:
            stopped.append(sig)
            child.send_signal(sig)

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, forward)
        # Slurm's preempt warning is absorbed, as for a one-rank command (its default kills);
        # a TERM preempt signal stays forwarded.
        if preempt_signal() not in (signal.SIGTERM, signal.SIGINT):
            signal.signal(preempt_signal(), lambda _s, _f: None)
        code = child.wait()
        sys.stderr.flush()
        error = None
        if code:
            log = store.run_dir(run_id) / "logs" / f"rank{dist.rank}.err"
            error = last_error_line(log) or f"exited with code {code}"
    if node is not None:
        sampler, writer = node
        sampler.stop()
        with contextlib.suppress(InfraError, OSError):  # the rank's own end state is what to report
            writer.finish()
    ranks.write_state(store.run_dir(run_id), dist.rank, "failed" if code else "done", error,
                      distributed.node_name(), stopped=bool(code) and (code < 0 or bool(stopped)))
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
