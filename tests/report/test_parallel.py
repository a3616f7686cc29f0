"""Forked page workers (dii_hpc/report/parallel.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

_CTRL_C_IN_EVERY_WORKER = """
import os, signal
from dii_hpc.report import parallel

parallel.MIN_PARALLEL = 1

def page(i):
    os.kill(os.getpid(), signal.SIGINT)  # the terminal's Ctrl-C, meant for the foreground job
    return str(i), [], {}

print(len(list(parallel.map_runs(page, list(range(40)), 2))))
"""


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_a_build_that_ignores_ctrl_c_keeps_it_ignored_in_its_workers() -> None:
    """#26: started where SIGINT is ignored (a script's background job shares the terminal's
    process group), a build's workers reset SIGINT to its default: a Ctrl-C killed them and
    the pool waited for their pages for ever."""
    proc = subprocess.Popen([sys.executable, "-c", _CTRL_C_IN_EVERY_WORKER], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=_ignore_sigint)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError("a Ctrl-C killed a worker: the build never ended") from None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the workers too, were they left behind
    assert proc.returncode == 0 and out.split() == ["40"], err[-2000:]
