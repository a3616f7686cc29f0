"""The warning signal Slurm sends before a time limit or a preemption: submitit's choice.

submitit asks sbatch for ``--signal=<NAME>@<delay>`` and installs its checkpoint/requeue
handler on that signal; NAME comes from ``$SUBMITIT_PREEMPT_SIGNAL`` (default ``USR2``;
NCCL may take USR1), read once when submitit is imported. Every handler dii-hpc installs
asks this module, so that all of them watch the signal
submitit's job will actually receive.
"""

from __future__ import annotations

import os
import signal
import sys

ENV = "SUBMITIT_PREEMPT_SIGNAL"
DEFAULT = "USR2"


def preempt_signal_name() -> str:
    """'USR2', or what ``$SUBMITIT_PREEMPT_SIGNAL`` says (submitit's own value once loaded)."""
    loaded = sys.modules.get("submitit.core.job_environment")
    name = getattr(getattr(loaded, "JobEnvironment", None), "USR_SIG", None)
    return str(name or os.environ.get(ENV) or DEFAULT)


def preempt_signal() -> signal.Signals:
    """The signal itself; a name that is no signal is refused as submitit would refuse it."""
    name = preempt_signal_name()
    try:
        return signal.Signals["SIG" + name]  # submitit's rule: getattr(signal, "SIG" + name)
    except KeyError as err:
        from dii_hpc.errors import BadInput

        raise BadInput(f"${ENV}={name!r} is not a signal name without its SIG prefix "
                       "(e.g. USR2)") from err
