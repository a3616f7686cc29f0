"""The preempt signal is submitit's ($SUBMITIT_PREEMPT_SIGNAL), for handlers and sbatch scripts alike."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from dii_hpc.errors import BadInput
from dii_hpc.slurm import preempt

SUBMITIT_ENV = "submitit.core.job_environment"


@pytest.fixture
def usr1(monkeypatch: pytest.MonkeyPatch) -> None:
    """$SUBMITIT_PREEMPT_SIGNAL=USR1, as a job would see it before submitit is imported."""
    monkeypatch.setenv(preempt.ENV, "USR1")
    monkeypatch.delitem(sys.modules, SUBMITIT_ENV, raising=False)


def test_default_is_usr2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(preempt.ENV, raising=False)
    monkeypatch.delitem(sys.modules, SUBMITIT_ENV, raising=False)
    assert preempt.preempt_signal() is signal.SIGUSR2


@pytest.mark.usefixtures("usr1")
def test_the_environment_variable_is_honoured() -> None:
    assert preempt.preempt_signal_name() == "USR1" and preempt.preempt_signal() is signal.SIGUSR1


def test_submitits_own_value_wins_once_it_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    from submitit.core.job_environment import JobEnvironment

    monkeypatch.setenv(preempt.ENV, "USR2")  # set after submitit read it: submitit ignores it
    monkeypatch.setattr(JobEnvironment, "USR_SIG", "USR1")
    assert preempt.preempt_signal() is signal.SIGUSR1


def test_a_name_that_is_no_signal_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(preempt.ENV, "SIGUSR1")  # submitit adds the SIG itself
    monkeypatch.delitem(sys.modules, SUBMITIT_ENV, raising=False)
    with pytest.raises(BadInput, match="SUBMITIT_PREEMPT_SIGNAL='SIGUSR1'"):
        preempt.preempt_signal()


@pytest.mark.usefixtures("usr1")
def test_a_tracked_run_flushes_on_that_signal(tmp_path: Path) -> None:
    from dii_hpc.store.store import Store
    from dii_hpc.tracking import signals
    from dii_hpc.tracking.run import start_run

    before_usr1, before_usr2 = signal.getsignal(signal.SIGUSR1), signal.getsignal(signal.SIGUSR2)
    store = Store(tmp_path / "store")
    with start_run("exp", store=store, flush_interval=3600, flush_points=10**6) as run:
        assert signal.getsignal(signal.SIGUSR1) is signals._on_preempt
        assert signal.getsignal(signal.SIGUSR2) is before_usr2
        run.log_metric("loss", 0.5, step=3)
        os.kill(os.getpid(), signal.SIGUSR1)  # Slurm's warning (default action: terminate)
        assert store.metric_history(run.id, "loss")["step"].tolist() == [3]
    assert signal.getsignal(signal.SIGUSR1) is before_usr1


def test_the_sbatch_script_asks_slurm_for_the_signal_handlers_watch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """submitit writes --signal from its own USR_SIG: the same name preempt_signal() gives."""
    from submitit.core.job_environment import JobEnvironment

    from dii_hpc.config.schema import Resources
    from dii_hpc.launch import backend

    monkeypatch.setattr(JobEnvironment, "USR_SIG", "USR1")
    job = backend.job("slurm", Path("/s/jobs/x"), Resources(), Path("/s"), "dii-x", (),
                      check=False)
    assert preempt.preempt_signal() is signal.SIGUSR1
    assert "#SBATCH --signal=USR1@90\n" in backend.sbatch_text(job, 2, python="python3")
