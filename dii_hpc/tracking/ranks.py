"""The ranks of one task: a silent view of rank 0's run, and each rank's end state on disk.

A task of N processes is ONE run.  Rank 0 writes run.json and artifacts.json; a rank above 0
either logs nothing (`SilentRun`, the default: N copies of the same loss are noise) or, with
``all_ranks``, writes its own `rank<k>/` arrays, never a file another process writes.

Each rank leaves `ranks/<attempt>/rank<k>.json` (done, or failed with its last error line)
when its part ends: rank 0 waits for them before ending the run, and `dii-hpc status` names the
rank that failed when the whole job was killed for it.  `<attempt>` is the job id and restart
count, so a requeued task never reads the states of the attempt before.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.tracking import active

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

RANKS_DIR = "ranks"


class SilentRun:
    """Rank k > 0 of a task logging without ``all_ranks``: every call is accepted, nothing is
    written (run.json has one writer: rank 0).  Same surface as `tracking.run.Run`."""

    writes_record = False
    owns_status = False
    key_prefix = ""

    def __init__(self, store: Store, experiment: str, run_id: str, rank: int) -> None:
        self.store, self.experiment, self.id, self.rank = store, experiment, run_id, rank
        self.dir = store.run_path(experiment, run_id) if run_id else None
        self.record: dict[str, Any] = {"run_id": run_id, "experiment": experiment,
                                       "status": "RUNNING", "metrics": {}}
        self.finished = False
        active.push(self)  # module-level log_metric finds it

    def __repr__(self) -> str:
        return f"SilentRun(id={self.id!r}, rank={self.rank})"

    @property
    def status(self) -> str:
        return str(self.record["status"])

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Nothing: only rank 0 writes metrics unless the run was started with all_ranks."""

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Nothing (see log_metric)."""

    def _ignore(self, *args: Any, **kwargs: Any) -> None:
        return None

    log_params = log_param = set_tags = set_section = set_sections = set_manifest = _ignore
    log_result = _ignore
    flush = refresh_summary = _ignore

    def log_artifact(self, path: Any, name: str | None = None) -> str:
        return ""

    def log_dict(self, name: str, obj: Any) -> str:
        return ""

    def finish(self, status: str = "FINISHED", error: str | None = None) -> None:
        self.finished = True
        active.forget(self)

    def __enter__(self) -> SilentRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.finish()


def attempt(environ: Mapping[str, str] | None = None) -> str:
    """This attempt of the task, the same on every rank: job id and restart count."""
    e = os.environ if environ is None else environ
    if e.get("DII_HPC_ATTEMPT"):  # set by a launcher that starts the ranks itself
        return e["DII_HPC_ATTEMPT"]
    job = e.get("SLURM_JOB_ID") or e.get("SUBMITIT_LOCAL_JOB_ID") or "0"
    return f"{job}.{e.get('SLURM_RESTART_COUNT') or 0}"


def state_path(run_dir: Path, rank: int, token: str | None = None) -> Path:
    return Path(run_dir) / RANKS_DIR / (token or attempt()) / f"rank{rank}.json"


def write_state(run_dir: Path, rank: int, state: str, error: str | None = None,
                node: str | None = None, stopped: bool = False) -> None:
    """Rank ``rank``'s end of this attempt: 'done' or 'failed' with its last error line;
    ``stopped``: it was ended from outside (srun ending the others after one failed, a
    cancel), so its last line is Slurm's, not the reason."""
    from dii_hpc.store.atomic import write_json

    write_json(state_path(run_dir, rank), {"rank": rank, "state": state, "error": error,
                                           "node": node, "stopped": stopped,
                                           "pid": os.getpid(), "time": time.time()})


def read_states(run_dir: Path, token: str | None = None) -> dict[int, dict[str, Any]]:
    """rank -> state of one attempt (this one by default)."""
    from dii_hpc.store.atomic import read_json

    folder = Path(run_dir) / RANKS_DIR / (token or attempt())
    out: dict[int, dict[str, Any]] = {}
    for path in folder.glob("rank*.json") if folder.is_dir() else ():
        with contextlib.suppress(OSError, ValueError):
            rec = read_json(path)
            out[int(rec["rank"])] = rec
    return out


def wait_for(run_dir: Path, ranks: range, timeout_s: float,
             poll_s: float = 0.2) -> dict[int, dict[str, Any]]:
    """States of ``ranks`` once all are on disk, or what is there after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = read_states(run_dir)
        if all(r in states for r in ranks) or time.monotonic() > deadline:
            return states
        time.sleep(poll_s)


def failure(run_dir: Path) -> str | None:
    """'rank 1 (node2): ValueError: boom' from the latest attempt that had a failed rank: a
    rank that failed on its own before one that was stopped because of it (srun ends the
    other ranks when one fails, and their last line is then slurmstepd's "CANCELLED")."""
    folder = Path(run_dir) / RANKS_DIR
    if not folder.is_dir():
        return None
    attempts = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for token in attempts:
        failed = sorted((s for s in read_states(run_dir, token.name).values()
                         if s.get("state") == "failed"),
                        key=lambda s: (bool(s.get("stopped")), int(s["rank"])))
        if failed:
            first = failed[0]
            where = f" ({first['node']})" if first.get("node") else ""
            return f"rank {first['rank']}{where}: {first.get('error') or 'failed'}"
    return None
