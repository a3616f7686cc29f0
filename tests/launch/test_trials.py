"""Workers of an adaptive sweep on the local executor (processes): every trial is a run with
the trial's params, pruned trials end PRUNED, a worker killed mid-trial loses nothing and
counts nothing twice, `resubmit` restarts missing workers, a metric never logged stops the
study in one line."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from dii_hpc.config import from_dict
from dii_hpc.launch import submit as sub
from dii_hpc.launch.optimize import study as studymod
from dii_hpc.launch.optimize import view as studyview
from dii_hpc.launch.optimize import workers as adaptive
from dii_hpc.store.store import Store
from tests.conftest import run_cli

FIX = "tests.launch.fixtures.optimum"
REPO = Path(__file__).resolve().parents[2]
SPACE = {"lr": {"log_uniform": [1e-4, 1e-1]}, "dropout": {"uniform": [0, 0.6]},
         "width": {"int": [4, 64]}}


def _raw(epoch_s: float = 0.0, model: str = "Bowl", **optimize: Any) -> dict[str, Any]:
    return {"experiment": "opt",
            "models": {"m": {"class": f"{FIX}:{model}", "params": {"epoch_s": epoch_s}
                             if model == "Bowl" else {}}},
            "params": {"lr": 0.01, "dropout": 0.0, "width": 8, "epochs": 4},
            "resources": {"sys_metrics_s": 0},
            "sweep": {"optimize": {"metric": "val_score", "direction": "maximize",
                                   "n_trials": 6, "parallel": 2, "space": SPACE,
                                   **optimize}}}


def _wait_local(sid: str) -> list[Any]:
    """Each local worker's result (None for one that was stopped or killed)."""
    out = []
    for job in sub._CURRENT_JOBS.pop(sid, []):
        job.wait()
        out.append(None)
        if job.paths.result_pickle.exists():  # else result() would wait 15 s for it
            with contextlib.suppress(Exception):  # a killed worker's job "fails": expected here
                out[-1] = job.result()
    return out


def _trial_runs(store: Store) -> list[dict[str, Any]]:
    return [r for r in store.records("opt") if "trial" in r.get("tags", {})]


def test_local_workers_are_processes_and_every_trial_is_a_run(store_path: Path) -> None:
    from optuna.trial import TrialState

    store = Store(store_path)
    res = sub.submit(from_dict(_raw(epoch_s=0.05, pruner="asha", n_trials=8)), store, "local")
    assert len(res.job_ids) == 2 and res.run_ids == []
    results = _wait_local(res.submission_id)
    assert sorted(r["worker"] for r in results) == [0, 1]  # two processes ran the loop
    assert sorted(n for r in results for n in r["trials"]) == list(range(8))  # each trial once
    study = studymod.open_study(store, "opt", studymod.read_spec(store, "opt"))
    trials = study.get_trials()
    assert len(trials) == 8 and all(t.state.is_finished() for t in trials)
    runs = {r["run_id"]: r for r in _trial_runs(store)}
    assert sorted(t.user_attrs["run_id"] for t in trials) == sorted(runs)  # one run each
    pids = {r["launch"]["pid"] for r in runs.values()}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids  # in the worker processes
    assert {r["launch"]["executor"] for r in runs.values()} == {"local"}
    for t in trials:
        run = runs[t.user_attrs["run_id"]]
        assert {k: run["params"][k] for k in SPACE} == t.params  # the trial's params
        assert run["trial"]["number"] == t.number and run["tags"]["trial"] == str(t.number)
        want = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "PRUNED"}[t.state]
        assert run["status"] == want
        if t.state == TrialState.COMPLETE:
            assert run["metrics"]["val_score"]["last"] == t.value == run["trial"]["value"]
        else:
            assert run["error"].startswith("pruned at step") and run["trial"]["state"] == "PRUNED"
    assert any(t.state == TrialState.PRUNED for t in trials)  # ASHA stopped some
    shown = studyview.summary(store, "opt")
    assert shown["counts"]["done"] == 8 and shown["best"]["value"] == max(
        t.value for t in trials if t.value is not None)


def _sized(**sweep: Any) -> dict[str, Any]:
    """`optimum.Sized` (width 2 in the config) over lr x its constructor's width."""
    return {"experiment": "opt", "models": {"m": {"class": f"{FIX}:Sized", "params": {"width": 2}}},
            "params": {"lr": 0.01, "epochs": 3}, "resources": {"sys_metrics_s": 0},
            "sweep": sweep}


def test_a_trial_runs_like_the_grid_task_of_its_params(store_path: Path) -> None:
    """Issue 26: models.m.params.width of a trial reaches the model (it trained the config's
    width before), and a trial's run is the grid task's run of the same values."""
    from tests.launch.fixtures.optimum import sized_score

    store = Store(store_path)
    space = {"lr": {"log_uniform": [1e-4, 1e-1]}, "models.m.params.width": {"int": [4, 64]}}
    res = sub.submit(from_dict(_sized(optimize={"metric": "val_score", "direction": "maximize",
                                                "n_trials": 4, "parallel": 2, "space": space})),
                     store, "local")
    _wait_local(res.submission_id)
    trials = {r["run_id"]: r for r in _trial_runs(store)}
    assert len(trials) == 4
    for run in trials.values():
        width = run["params"]["models.m.params.width"]
        assert run["manifest"]["config"]["models"]["m"]["params"]["width"] == width
        assert run["metrics"]["model_width"]["last"] == width  # the model was built with it
        assert run["trial"]["value"] == pytest.approx(sized_score(run["params"]["lr"], width))
    points = [(r["params"]["lr"], r["params"]["models.m.params.width"]) for r in trials.values()]
    grid = sub.submit(from_dict({**_sized(zip={"lr": [p[0] for p in points],
                                               "models.m.params.width": [p[1] for p in points]}),
                                 "experiment": "grid"}), store, "local")
    sub.wait_local(grid.submission_id)
    by_point = {(r["params"]["lr"], r["params"]["models.m.params.width"]): r
                for r in store.records("grid")}
    for run in trials.values():
        task = by_point[(run["params"]["lr"], run["params"]["models.m.params.width"])]
        assert task["params"] == run["params"] and task["status"] == run["status"] == "FINISHED"
        assert {k: v["last"] for k, v in task["metrics"].items()} == \
            {k: v["last"] for k, v in run["metrics"].items()}
        assert {k: v for k, v in task["manifest"]["config"].items() if k != "experiment"} == \
            {k: v for k, v in run["manifest"]["config"].items() if k != "experiment"}


def test_the_best_trial_of_configs_optimize_loads_as_it_was_trained(store_path: Path) -> None:
    """Issue 26: the shipped study trained width 16 whatever width its runs recorded, so the
    registered best trial failed to load ("size mismatch")."""
    import yaml

    from dii_hpc.registry import uri
    from dii_hpc.registry.registry import Registry

    raw = yaml.safe_load((REPO / "configs" / "optimize.yaml").read_text())
    raw["params"]["epochs"] = 1
    raw["datasets"]["digits"]["params"] = {"n_train": 200}
    raw["resources"]["sys_metrics_s"] = 0
    raw["sweep"]["optimize"].update(n_trials=2, parallel=1, pruner="none", space={
        "lr": {"log_uniform": [1e-3, 1e-2]}, "models.cnn.params.width": {"choice": [4, 6]}})
    store = Store(store_path)
    _wait_local(sub.submit(from_dict(raw), store, "local").submission_id)
    best = studyview.summary(store, "digits-optimize")["best"]
    width = best["params"]["models.cnn.params.width"]
    Registry(store).register(best["run_id"], "digits",
                             loader="dii_hpc.examples.digits:digits_model")
    model = uri.build("models:/digits/1", store=store)  # the run's config builds the net
    assert model.module[0].out_channels == width


def _running_trial(store: Store, timeout: float = 60.0) -> tuple[str, int]:
    """(run id, worker pid) of a trial in progress."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for r in _trial_runs(store):
            if r["status"] == "RUNNING" and r.get("launch", {}).get("pid"):
                return r["run_id"], int(r["launch"]["pid"])
        time.sleep(0.05)
    pytest.fail("no trial started")


def _check_nothing_lost(store: Store, n_trials: int, killed_run: str) -> None:
    from optuna.trial import TrialState

    study = studymod.open_study(store, "opt", studymod.read_spec(store, "opt"))
    trials = study.get_trials()
    counts = studymod.tally(trials)
    assert counts.done == counts.complete == n_trials and counts.lost == 1  # not counted twice
    (lost,) = [t for t in trials if t.state == TrialState.FAIL]
    assert lost.user_attrs["run_id"] == killed_run
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == lost.number]
    assert retry.state == TrialState.COMPLETE and retry.params == lost.params  # asked again
    assert store.run(killed_run)["status"] == "FAILED"
    runs = {r["run_id"] for r in _trial_runs(store)}
    assert runs == {t.user_attrs["run_id"] for t in trials}  # all trials are runs


def test_worker_killed_mid_trial_loses_no_trial(store_path: Path) -> None:
    store = Store(store_path)
    res = sub.submit(from_dict(_raw(epoch_s=0.15, n_trials=6)), store, "local")
    killed_run, worker = _running_trial(store)
    os.kill(worker, signal.SIGKILL)
    _wait_local(res.submission_id)  # the other worker stays, finds the lost trial, re-asks it
    _check_nothing_lost(store, 6, killed_run)


def test_resubmit_restarts_the_missing_worker(store_path: Path) -> None:
    store = Store(store_path)
    res = sub.submit(from_dict(_raw(epoch_s=0.15, n_trials=3, parallel=1)), store, "local")
    killed_run, worker = _running_trial(store)
    os.kill(worker, signal.SIGKILL)
    _wait_local(res.submission_id)
    assert adaptive.missing(store, "opt")[1] == [0]
    proc = run_cli("resubmit", "opt", "--failed", "--executor", "local")
    assert proc.returncode == 0, proc.stderr
    assert "restarted 1 worker(s) of the study of opt" in proc.stdout
    _check_nothing_lost(store, 3, killed_run)
    assert adaptive.missing(store, "opt") == (Path(res.plan_file), [])  # nothing left to do
    assert "nothing to resubmit" in run_cli("resubmit", "opt", "--failed").stdout


def test_metric_never_logged_stops_the_study_in_one_line(tmp_path: Path, store_path: Path) -> None:
    cfg = tmp_path / "silent.yaml"
    cfg.write_text(json.dumps(_raw(model="Silent", n_trials=4)))
    proc = run_cli("submit", str(cfg), "--executor", "local")
    line = ("sweep.optimize.metric: 'val_score' was never logged by the train_function "
            "(logged: loss, other)")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [f"dii-hpc: error: {line}"]
    store = Store(store_path)
    runs = _trial_runs(store)
    assert len(runs) <= 2 and {r["status"] for r in runs} == {"FAILED"}  # one per worker at most
    assert {r["error"] for r in runs} == {line}
    shown = run_cli("sweep", "show", "opt")
    assert shown.returncode == 2 and shown.stderr.strip() == f"dii-hpc: error: {line}"
    assert "trial  state" in shown.stdout


def test_cancel_stops_local_workers_and_resubmit_finishes_the_study(store_path: Path) -> None:
    store = Store(store_path)
    res = sub.submit(from_dict(_raw(epoch_s=0.3, n_trials=4)), store, "local")
    _running_trial(store)
    proc = run_cli("cancel", "opt")
    assert proc.returncode == 0 and "2 local process(es)" in proc.stdout, proc.stdout
    _wait_local(res.submission_id)
    assert adaptive.cancel_targets(store, "opt") == ([], [])  # no worker left
    # the trials that were running end CANCELLED by themselves (#14: cancel is noted first)
    stopped = [r for r in _trial_runs(store) if r["status"] not in ("FINISHED", "PRUNED")]
    assert {r["status"] for r in stopped} == {"CANCELLED"}
    assert stopped and all("cancelled by" in r["error"] for r in stopped)
    proc = run_cli("resubmit", "opt", "--failed", "--executor", "local")
    assert proc.returncode == 0 and "restarted 2 worker(s)" in proc.stdout, proc.stderr
    counts = studymod.tally(studymod.open_study(store, "opt", studymod.read_spec(store, "opt"))
                            .get_trials())
    assert counts.done == counts.complete == 4 and counts.lost == len(stopped)


def test_a_cancel_noted_while_its_worker_was_starting_stops_it_at_the_first_claim(
        store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cancel test's other race: `dii-hpc cancel` noted a local worker's job while the
    worker was still importing (submitit lets that SIGTERM pass), and the worker, which
    dated its start from opening the study, took the cancel for an older one of a reused pid
    and ran every trial."""
    from dii_hpc.launch.optimize import trials as trialsmod
    from dii_hpc.launch.task import read_plan

    store = Store(store_path)
    res = sub.submit(from_dict(_raw(n_trials=2, parallel=1)), store, "debug")
    sub._CURRENT_JOBS.pop(res.submission_id)  # the worker runs here instead: its job is this pid
    studymod.note_cancel(store, "opt", [str(os.getpid())])  # this process began before it
    monkeypatch.setattr(trialsmod, "_job_id", lambda: str(os.getpid()))
    worker = trialsmod.start(read_plan(res.plan_file), 0)
    assert trialsmod.claim(worker) == ("done", None)
    assert worker.study.get_trials() == []  # nothing asked, nothing to lose


def _stopped_worker(store: Store, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> Any:
    """Run a worker of a two-trial study here, with Ctrl-C's SIGINT (its default handler set,
    whatever this process was started with) right after ``owner.name`` returns; the one trial
    it asked."""
    from dii_hpc.launch.optimize import trials as trialsmod
    from dii_hpc.launch.task import TaskRef

    res = sub.submit(from_dict(_raw(n_trials=2, parallel=1)), store, "debug")
    sub._CURRENT_JOBS.pop(res.submission_id)  # the worker runs here instead
    real = getattr(owner, name)

    def then_stop(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = real(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(owner, name, then_stop)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            trialsmod.work(TaskRef(str(res.plan_file), 0))
    finally:
        signal.signal(signal.SIGINT, before)
        monkeypatch.undo()
    (trial,) = studymod.open_study(store, "opt", studymod.read_spec(store, "opt")).get_trials()
    return trial


def test_a_stop_during_the_claim_leaves_no_trial_running(store_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 26 (the cancel test's race): Ctrl-C's SIGINT landing in a worker's claim after the
    ask left a trial RUNNING with no run, which nobody asked again for two minutes."""
    import optuna

    store = Store(store_path)
    trial = _stopped_worker(store, monkeypatch, optuna.study.Study, "ask")  # in the claim lock
    assert trial.state.name == "FAIL" and trial.user_attrs["lost"] == "its worker stopped"
    assert not list(studymod.study_dir(store, "opt").glob("*.lock"))  # every lock released


def test_a_stop_as_the_trial_run_is_created_leaves_no_run_running(
        store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cancel test's other race: a trial's run is created RUNNING by the write that
    starts it; a stop landing after that write, before the worker had the run's writer in
    hand, left the run RUNNING (only a PENDING one was ended), a trial run of a stopped
    study that `status` alone would end, much later."""
    store = Store(store_path)
    trial = _stopped_worker(store, monkeypatch, Store, "create_record")  # the run's first write
    assert trial.state.name == "FAIL" and trial.user_attrs["lost"] == "its worker stopped"
    record = store.run(trial.user_attrs["run_id"])
    assert record["status"] == "KILLED" and "before the run started" in record["error"]


def test_cancel_lets_a_local_worker_end_its_trial_however_long_it_takes(
        store_path: Path) -> None:
    """Issue 26 (the cancel test's race): cancel sent SIGINT to a local worker's controller,
    which kills the worker a second later, so a trial whose end took longer (a busy machine)
    was left RUNNING, then failed, instead of ending CANCELLED with its points."""
    store = Store(store_path)
    raw = _raw(model="SlowStop", n_trials=2, parallel=1)
    raw["params"]["epochs"] = 3000  # runs until cancelled
    res = sub.submit(from_dict(raw), store, "local")
    run_id, _ = _running_trial(store)
    proc = run_cli("cancel", "opt")
    assert proc.returncode == 0 and "1 local process(es)" in proc.stdout, proc.stdout
    _wait_local(res.submission_id)
    record = store.run(run_id)
    assert record["status"] == "CANCELLED" and "cancelled by" in record["error"]
    assert record["metrics"]["val_score"]["count"] >= 1  # its points are kept
    assert adaptive.cancel_targets(store, "opt") == ([], [])


def test_cancel_stops_a_trials_worker_as_a_worker_even_before_its_trial_section(
        store_path: Path) -> None:
    """Issue 26 (the cancel test's race): a trial's run caught by `dii-hpc cancel` between its
    start (launch section, the worker's pid) and its `trial` section was taken for a run of
    its own: its worker got a second SIGTERM and the cancel counted one process too many."""
    import socket
    import subprocess
    import sys

    from dii_hpc.launch import lifecycle

    store = Store(store_path)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        rid = store.create_run("opt", params={}, tags={"trial": "0"}, status="RUNNING")
        store.update_run(rid, launch={"host": socket.gethostname(), "pid": worker.pid},
                         heartbeat=time.time(), host=socket.gethostname(), pid=worker.pid)
        out = lifecycle.cancel(store, "opt")
        assert out["local"] == 0 and worker.poll() is None  # not signalled through its run
    finally:
        worker.kill()
        worker.wait()


def test_every_trial_run_names_the_source_it_ran(store_path: Path, tmp_path: Path) -> None:
    """A submission from a work tree with uncommitted changes: each trial's run has its git
    commit and dirty flag, and the diff as its ``git.diff`` artifact (one blob, stored once
    per worker process, named by each run), as a sweep task's run has them."""
    import subprocess

    import yaml

    from dii_hpc.config.load import load_config

    repo = tmp_path / "src"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    (repo / "model.txt").write_text("width 8\n")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "model.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)
    (repo / "model.txt").write_text("width 16\n")  # uncommitted
    (repo / "opt.yaml").write_text(yaml.safe_dump(_raw(n_trials=4)))
    store = Store(store_path)
    res = sub.submit(load_config(repo / "opt.yaml"), store, "local")
    _wait_local(res.submission_id)
    runs = _trial_runs(store)
    assert len(runs) == 4 and {r["status"] for r in runs} == {"FINISHED"}
    diffs = [store.artifacts(r["run_id"])["git.diff"] for r in runs]
    assert len({d["sha256"] for d in diffs}) == 1
    text = Path(diffs[0]["path"]).read_text()
    assert "-width 8" in text and "+width 16" in text
    assert all(r["manifest"]["git"]["dirty"] and r["manifest"]["git"]["commit"] for r in runs)
