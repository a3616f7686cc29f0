"""`dii-hpc submit|run|status|resubmit` (cli/launch.py) through the real CLI: bad input is one
line, exit 2, nothing written; local and debug submissions, dry runs, --from-run."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]


def test_config_error_names_key_and_line(store_path: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("experiment: x\nmodels:\n  m: {class: 'a:B'}\nresources:\n  cpus: 2\n")
    proc = run_cli("submit", str(cfg), "--executor", "local", cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr == (f"dii-hpc: error: {cfg}:5: resources.cpus: unknown key; "
                           "did you mean cpus_per_task?\n")
    assert not store_path.exists()


def test_unimportable_class_and_missing_method(store_path: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("experiment: x\nmodels:\n  m: {class: 'tests.launch.fixtures.models:NoTrain'}\n")
    proc = run_cli("submit", str(cfg), "--executor", "local", cwd=REPO)
    assert proc.returncode == 2 and "models.m.class: 'tests.launch.fixtures.models:NoTrain' has no method train_function, which a model must define" in proc.stderr
    proc = run_cli("submit", str(cfg), "--set", "models.m.class=nowhere.mod:M", cwd=REPO)
    assert proc.returncode == 2 and "cannot import module 'nowhere'" in proc.stderr
    assert proc.stderr.count("\n") == 1 and not store_path.exists()


def test_local_submit_and_dry_run(store_path: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("experiment: loc\nmodels:\n  q: {class: 'tests.launch.fixtures.models:Quadratic'}\n"
                   "datasets:\n  p: {class: 'tests.launch.fixtures.models:Points'}\n"
                   "sweep: {seeds: [0, 1]}\nresources: {sys_metrics_s: 0}\n")
    dry = run_cli("submit", str(cfg), "--dry-run", cwd=REPO)
    assert dry.returncode == 0 and "#SBATCH" in dry.stdout and "nothing submitted" in dry.stdout
    assert not store_path.exists()
    proc = run_cli("submit", str(cfg), "--executor", "local", cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "loc: 2 run(s): 2 FINISHED" in proc.stdout
    status = run_cli("status", "loc", "--all", cwd=REPO)
    assert status.stdout.count("FINISHED") == 3
    assert run_cli("status", "nope", cwd=REPO).returncode == 2
    assert run_cli("resubmit", "loc", "--failed", cwd=REPO).stdout.strip() == "loc: nothing to resubmit"


def test_submit_from_run_recreates_it(store_path: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("experiment: again\nmodels:\n  q: {class: 'tests.launch.fixtures.models:Quadratic'}\n"
                   "datasets:\n  p: {class: 'tests.launch.fixtures.models:Points'}\n"
                   "sweep: {seeds: [5]}\nresources: {sys_metrics_s: 0}\n")
    assert run_cli("submit", str(cfg), "--executor", "debug", cwd=REPO).returncode == 0
    from dii_hpc.store.store import Store

    (first,) = Store(store_path).records("again")
    proc = run_cli("submit", "--from-run", first["run_id"], "--executor", "debug", cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    runs = Store(store_path).records("again")
    (copy,) = [r for r in runs if r["run_id"] != first["run_id"]]
    assert copy["parent_run"] == first["run_id"] and copy["params"]["seed"] == 5
    assert copy["metrics"]["loss"]["last"] == first["metrics"]["loss"]["last"]
    assert run_cli("submit", "--executor", "debug", cwd=REPO).returncode == 2


def flaky_command(marker: Path) -> list[str]:
    """Fails the first time (leaving ``marker``), succeeds after."""
    return ["sh", "-c", f'if [ -e "{marker}" ]; then echo second; else touch "{marker}"; exit 1; fi']


def test_resubmit_failed_includes_command_runs(store_path: Path, tmp_path: Path) -> None:
    """#14 item 8: `resubmit --failed` said "nothing to resubmit" for a failed `dii-hpc run`."""
    from dii_hpc.store.store import Store

    first = run_cli("run", "--executor", "local", "-e", "cmds", "--sys-metrics-s", "0", "--",
                    *flaky_command(tmp_path / "m"), cwd=tmp_path)
    assert first.returncode == 3, first.stderr
    (rec,) = Store(store_path).records("cmds")
    assert rec["status"] == "FAILED"
    again = run_cli("resubmit", "cmds", "--failed", "--executor", "local", cwd=REPO)
    assert again.returncode == 0, again.stderr
    assert "resubmitted 1 run(s) of cmds" in again.stdout
    (rec,) = Store(store_path).records("cmds")
    assert rec["status"] == "FINISHED" and rec["error"] is None and rec["params"]["exit_code"] == 0
    assert (Store(store_path).run_dir(rec["run_id"]) / "logs/stdout.log").read_text() == "second\n"
    assert run_cli("resubmit", "cmds", "--failed").stdout.strip() == "cmds: nothing to resubmit"


def test_logs_follow_shows_both_streams(store_path: Path, tmp_path: Path) -> None:
    """#14 item 9: `logs --follow` followed stdout only, so a traceback never showed."""
    from dii_hpc.store.store import Store

    code = "print('to stdout', flush=True); raise SystemExit('boom on stderr')"
    assert run_cli("run", "--executor", "local", "-e", "cmds", "--sys-metrics-s", "0", "--",
                   "python3", "-c", code, cwd=tmp_path).returncode == 3
    (rec,) = Store(store_path).records("cmds")
    res = run_cli("logs", rec["run_id"], "--follow")
    assert res.returncode == 0, res.stderr
    assert "to stdout" in res.stdout and "boom on stderr" in res.stdout
    assert "==> stderr <==" in res.stdout
    only = run_cli("logs", rec["run_id"], "--follow", "--stream", "stderr")
    assert "boom on stderr" in only.stdout and "to stdout" not in only.stdout


def test_logs_of_a_multi_rank_run_show_every_rank_labelled(store_path: Path,
                                                           tmp_path: Path) -> None:
    """#26: `dii-hpc logs` of a multi-rank run printed nothing (its output is in
    logs/rank<k>.out/.err): every rank's output is shown under its label."""
    from dii_hpc.store.store import Store

    code = ("import os, sys; r = os.environ['RANK']; print('out of rank', r); "
            "print('err of rank', r, file=sys.stderr)")
    assert run_cli("run", "--executor", "local", "--tasks-per-node", "2", "--sys-metrics-s", "0",
                   "-e", "lr", "--", sys.executable, "-c", code, cwd=tmp_path).returncode == 0
    (rec,) = Store(store_path).records("lr")
    for follow in ([], ["--follow"]):
        res = run_cli("logs", rec["run_id"], *follow)
        assert res.returncode == 0, res.stderr
        for r in (0, 1):
            assert f"==> rank {r} stdout <==\nout of rank {r}\n" in res.stdout, res.stdout
            assert f"==> rank {r} stderr <==\nerr of rank {r}\n" in res.stdout, res.stdout
    only = run_cli("logs", rec["run_id"], "--stream", "stderr")
    assert "err of rank 1" in only.stdout and "out of rank" not in only.stdout


def test_run_resource_options_name_the_option(store_path: Path) -> None:
    """#14 item 11: "resource options: For further information visit https://errors.pydantic.dev"."""
    for args, expected in ((["--time", "bogus"], "--time bogus: not a Slurm time (M, M:S, H:M:S, D-H, "
                                                  "D-H:M or D-H:M:S)"),
                           (["--mem", "lots"], "--mem lots: not a memory size (e.g. 2G, 512M)"),
                           (["--cpus-per-task", "0"], "--cpus-per-task 0: must be at least 1")):
        proc = run_cli("run", "--executor", "local", *args, "--", "true")
        assert proc.returncode == 2 and proc.stderr == f"dii-hpc: error: {expected}\n", proc.stderr
    assert not store_path.exists()


def test_a_config_that_is_not_utf8_text_is_named(store_path: Path, tmp_path: Path) -> None:
    """#14 item 12: a binary or latin-1 config gave a raw UnicodeDecodeError, file not named."""
    latin, binary = tmp_path / "latin.yaml", tmp_path / "bin.yaml"
    latin.write_bytes(b"experiment: caf\xe9\n")
    binary.write_bytes(bytes(range(128, 256)))
    for path, where in ((latin, "byte 0xe9 at offset 15"), (binary, "byte 0x80 at offset 0")):
        proc = run_cli("submit", str(path), "--dry-run")
        assert proc.returncode == 2
        assert proc.stderr == f"dii-hpc: error: {path}: not UTF-8 text ({where})\n"


BESIDE = '''
class Model:
    def train_function(self, data, run=None, **params):
        run.log_metric("loss", sum(data) / 10.0)
        return {"acc": 0.5}


class Data:
    def get_dataset(self):
        return [1.0, 2.0]
'''


def test_submit_finds_modules_beside_the_config(store_path: Path, tmp_path: Path) -> None:
    """#14 item 15: `submit ../t3/exp.yaml` failed with "cannot import module 'mymodel'": modules
    were looked for in the current folder only; the job must find them too."""
    from dii_hpc.store.store import Store

    (tmp_path / "t3").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "t3" / "mymodel_t3.py").write_text(BESIDE)
    (tmp_path / "t3" / "exp.yaml").write_text(
        "experiment: beside\nmodels:\n  m: {class: 'mymodel_t3:Model'}\n  f: {class: 'mymodel_t3.py:Model'}\n"
        "datasets:\n  d: {class: 'mymodel_t3:Data'}\nresources: {sys_metrics_s: 0}\n")
    for executor in ("local", "debug"):
        proc = run_cli("submit", "../t3/exp.yaml", "--executor", executor, "--wait",
                       cwd=tmp_path / "elsewhere")
        assert proc.returncode == 0, proc.stderr
    runs = Store(store_path).records("beside")
    assert len(runs) == 4 and {r["status"] for r in runs} == {"FINISHED"}
    assert {r["metrics"]["loss"]["last"] for r in runs} == {0.3}
    bad = run_cli("submit", "../t3/exp.yaml", "--dry-run", "--set", "models.m.class=nomod_t3:M",
                  cwd=tmp_path / "elsewhere")
    assert bad.returncode == 2
    assert f"cannot import module 'nomod_t3' (looked in sys.path, {tmp_path / 't3'}, .)" in bad.stderr


def test_status_has_a_header(store_path: Path, tmp_path: Path) -> None:
    """#14 "smaller": `status` printed rows without saying what the columns are."""
    assert run_cli("run", "--executor", "local", "-e", "cmds", "--sys-metrics-s", "0", "--",
                   "false", cwd=tmp_path).returncode == 3
    lines = run_cli("status", "cmds").stdout.splitlines()
    assert lines[0].split() == ["run_id", "status", "job", "elapsed", "max_rss", "error"]
    assert lines[1].startswith("---") and "FAILED" in lines[2]


def test_ctrl_c_of_a_local_submit_wait_keeps_every_point_and_ends_killed(store_path: Path,
                                                                         tmp_path: Path) -> None:
    """#14 item 2: Ctrl-C (SIGINT to the group) of `submit slow.yaml --executor local --wait`:
    both runs were FAILED "the local process died...", 7 points printed, 0 stored each."""
    import os
    import signal
    import subprocess

    from dii_hpc.store.store import Store
    from tests.conftest import DII, default_signals
    from tests.launch.fixtures import progress

    marks = tmp_path / "progress"
    marks.mkdir()
    cfg = tmp_path / "slow.yaml"
    cfg.write_text("experiment: slow\nmodels:\n  t: {class: 'tests.launch.fixtures.models:Ticker', "
                   f"params: {{progress: '{marks}'}}}}\nsweep: {{seeds: [0, 1]}}\n"
                   "resources: {sys_metrics_s: 0}\n")
    proc = subprocess.Popen([DII, "submit", str(cfg), "--executor", "local", "--wait"], cwd=REPO,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=default_signals)
    try:
        files = progress.wait_until(lambda: len(list(marks.glob("*.txt"))) == 2 and
                                    list(marks.glob("*.txt")), 120, "both tasks to log")
        for path in files:
            progress.wait_for(path, 7, alive=lambda: proc.poll() is None)
        logged = {path.stem: progress.steps(path) for path in files}
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert run_cli("status", "slow", cwd=REPO).returncode == 0
    store = Store(store_path)
    for rid, steps in logged.items():
        assert store.run(rid)["status"] == "KILLED", store.run(rid)
        progress.assert_stored(store, rid, "tick", steps)
