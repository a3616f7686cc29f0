"""`dii-hpc submit|run|status|resubmit` (cli/launch.py) through the real CLI: bad input is one
line, exit 2, nothing written; local and debug submissions, dry runs, --from-run."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]


def test_config_error_names_key_and_line(store_path: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("experiment: x\nmodels:\n  m: {class: 'a:B'}\nresources:\n  cpus: 2\n")
    proc = run_cli("submit", str(cfg), "--executor", "local", cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr == f"dii-hpc: error: {cfg}:5: resources.cpus: unknown key\n"
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
