"""Run one task of a plan without submitit: the entry point of sbatch/array.sbatch.j2.

For sites that must submit through their own sbatch wrappers: render the template, submit it
however the site requires, and each array element runs
``python -m dii_hpc.launch.worker PLAN_FILE $SLURM_ARRAY_TASK_ID``.  The run record, manifest,
metrics and status are the same as through submitit; requeue-with-checkpoint needs submitit.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from dii_hpc.errors import DiiError
    from dii_hpc.launch.task import TaskRef, TaskRunner

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[1].isdigit():
        print("usage: python -m dii_hpc.launch.worker PLAN_FILE TASK_INDEX", file=sys.stderr)
        return 2
    try:
        TaskRunner()(TaskRef(args[0], int(args[1])))
    except DiiError as err:
        print(f"dii-hpc worker: error: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as err:  # noqa: BLE001 - the run record already says FAILED
        print(f"dii-hpc worker: task failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
