"""A training run that logs while a test watches it (`dii-hpc ui` / `dii-hpc top`).

    python tests/ui/logger.py STORE EXPERIMENT STOP_FILE

Prints the run id, then logs ``loss`` and ``acc`` one step at a time (and a line to its log
file) until STOP_FILE exists, then ends FINISHED. The pace is the workload's, not a
synchronisation: tests wait for what they need to see, with a deadline.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import dii_hpc


def main() -> None:
    store, experiment, stop = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    with dii_hpc.start_run(experiment, params={"lr": 0.1}, store=store,
                           flush_interval=0.2) as run:
        print(run.id, flush=True)
        logs = run.dir / "logs"
        logs.mkdir(exist_ok=True)
        step = 0
        with open(logs / "stdout.txt", "a") as out:
            while not stop.exists():
                run.log_metrics({"loss": 1.0 / (1 + step), "acc": step / (step + 10.0)}, step=step)
                out.write(f"step {step} loss {1.0 / (1 + step):.4f}\n")
                out.flush()
                step += 1
                time.sleep(0.1)


if __name__ == "__main__":
    main()
