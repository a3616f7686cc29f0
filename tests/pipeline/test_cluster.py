"""Issue 18's "must show" on the 3-node test bed, store on GlusterFS: the quickstart lifecycle
(2x2 sweep -> select -> evasion and privacy suites -> drift reference and check -> gate ->
promote -> report) as ONE pipeline. `pipeline submit` returns with every job queued (squeue
shows the dependencies), all stages finish, a second submit runs nothing, and a gate that
fails stops `promote` with the rule named in `pipeline status`. Sizes are tiny (3 epochs,
30 samples, two attacks per suite)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from dii_hpc.store.store import Store
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"

pytestmark = pytest.mark.slurm


def _pipeline(tmp_path: Path, policy: Path, name: str = "p.yaml") -> Path:
    suite = str(CONFIGS / "audit-digits-suite.yaml")
    stages = {
        "train": {"sweep": str(CONFIGS / "quickstart.yaml"), "set": {"params.epochs": 3}},
        "best": {"select": {"from": "train", "metric": "val_acc", "mode": "max"},
                 "needs": ["train"]},
        "evasion": {"audit": suite, "suite": "evasion", "model_from": "best",
                    "set": {"n_samples": 30, "attacks": ["fgsm", "pgd"]}},
        "privacy": {"audit": suite, "suite": "privacy", "model_from": "best",
                    "set": {"n_samples": 30, "attacks": ["mi_loss", "mi_confidence"],
                            "experiment": "digits-privacy"}},
        "reference": {"command": "python -m dii_hpc.examples.digits drift-tables {work}"},
        "profile": {"profile": {"name": "digits-pixels", "data": "{work}/reference.csv"},
                    "needs": ["reference"]},
        "drift": {"command": "dii-hpc drift check --monitor digits-pixels "
                             "--data {work}/current-clean.csv", "needs": ["profile"]},
        "gate": {"gate": {"name": "digits", "to": "champion", "policy": str(policy)},
                 "needs": ["evasion", "privacy", "drift"]},
        "promote": {"promote": {"name": "digits", "to": "champion", "policy": str(policy)},
                    "needs": ["gate"]},
        "site": {"report": {}, "needs": ["promote"]},
    }
    path = tmp_path / name
    path.write_text(json.dumps({"pipeline": "digits-lifecycle",
                                "resources": {"time": "00:15:00", "mem": "1G"},
                                "stages": stages}))
    return path


def _policy(tmp_path: Path, name: str, floor: float) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({
        "audits": [{"suite": "evasion", "rules": {"clean_accuracy": f">= {floor}"}}],
        "drift": {"monitor": "digits-pixels", "max_share": 0.3}}))
    return path


def _status(pid: str) -> dict:
    proc = run_cli("pipeline", "status", pid, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _wait(pid: str, timeout: float = 900) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        view = _status(pid)
        if view["state"] not in ("PENDING", "RUNNING"):
            return view
        time.sleep(5)
    pytest.fail(f"pipeline {pid} still {view['state']}: {view['stages']}")


def _queued(name: str | None = None) -> dict[str, str]:
    """Queued job id -> its dependency, of every job or of the jobs named ``name``."""
    out = subprocess.run(["squeue", "-h", "-o", "%i %E", *(["-n", name] if name else [])],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


@pytest.mark.multinode
@pytest.mark.sharedfs
@pytest.mark.slow
def test_lifecycle_pipeline_on_the_cluster(cluster_nodes: list[str], shared_store: Path,
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DII_HPC_CACHE", str(shared_store.parent / "cache"))  # shards: shared
    path = _pipeline(tmp_path, _policy(tmp_path, "policy.yaml", 0.3))
    proc = run_cli("pipeline", "submit", str(path), "--executor", "slurm", cwd=REPO, timeout=120)
    queued = _queued()  # the moment the submitting process has exited
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pid = proc.stdout.strip().splitlines()[-1]
    view = _status(pid)
    held = ("best", "evasion", "privacy", "gate", "promote", "site")  # all after the sweep
    for name in held:
        stage = view["stages"][name]
        assert stage["jobs"] and not stage["reused"]
        final = stage["jobs"][-1]
        assert final in queued, f"{name}: job {final} not queued: {queued}"
        assert queued[final].startswith("afterok:"), f"{name}: {queued[final]}"
    assert view["stages"]["gate"]["dependency"] == "afterok:" + ":".join(
        view["stages"][n]["jobs"][-1] for n in ("evasion", "privacy", "drift"))
    assert len(view["stages"]["evasion"]["jobs"]) == 2  # the shard array, then the merge job

    done = _wait(pid)
    assert done["state"] == "FINISHED", done["stages"]
    store = Store(shared_store)
    assert len(done["stages"]["train"]["runs"]) == 4
    best = done["stages"]["best"]["outputs"]
    assert best["model"] == "models:/digits/1"
    from dii_hpc.registry.registry import Registry

    reg = Registry(store)
    assert reg.alias_version("digits", "champion") == 1
    audits = {store.run(r)["audit"]["suite"] for r in reg.version("digits", 1)["audits"]}
    assert audits == {"evasion", "privacy"}
    assert Path(done["stages"]["site"]["outputs"]["index"]).is_file()
    nodes = {store.run(r).get("slurm", {}).get("node_list") for r in done["stages"]["train"]["runs"]}
    assert nodes <= {*cluster_nodes, None}

    again = run_cli("pipeline", "submit", str(path), "--executor", "slurm", cwd=REPO, timeout=120)
    assert again.returncode == 0, again.stderr
    second = _status(again.stdout.strip().splitlines()[-1])
    assert second["state"] == "FINISHED"
    assert all(s["reused"] and not s["jobs"] for s in second["stages"].values())

    strict = _pipeline(tmp_path, _policy(tmp_path, "strict.yaml", 0.999), "p-strict.yaml")
    failing = run_cli("pipeline", "submit", str(strict), "--executor", "slurm", cwd=REPO,
                      timeout=120)
    assert failing.returncode == 0, failing.stderr
    view = _wait(failing.stdout.strip().splitlines()[-1])
    states = {n: (s["state"], s["reused"]) for n, s in view["stages"].items()}
    assert states["evasion"] == ("FINISHED", True) and states["gate"] == ("FAILED", False)
    assert states["promote"][0] == states["site"][0] == "CANCELLED"
    rule = "FAILED suite evasion: clean_accuracy >= 0.999: clean_accuracy = "
    assert rule in view["stages"]["gate"]["error"]
    assert view["stages"]["promote"]["error"].startswith("needs gate, which FAILED: models:/digits/1")
    assert rule in view["stages"]["promote"]["error"]
    assert reg.alias_version("digits", "champion") == 1  # nothing moved


@pytest.mark.slurm
def test_a_refused_stage_leaves_nothing_queued_or_recorded(store_path: Path, tmp_path: Path) -> None:
    """The stage after the sweep asks for a partition Slurm does not have: exit 3 in Slurm's
    words, the sweep's array cancelled, its runs and the pipeline's records gone."""
    from tests.pipeline.conftest import sweep_config

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(json.dumps({**sweep_config(), "experiment": "pl-refused",
                                 "resources": {"extra": {"hold": True}}}))
    path = tmp_path / "p.yaml"
    path.write_text(json.dumps({"pipeline": "refused", "stages": {
        "train": {"sweep": str(sweep)},
        "site": {"report": {}, "needs": ["train"], "resources": {"partition": "nope"}}}}))
    mine = "dii-pl-refused"  # the sweep's jobs (another user's or test's jobs may come and go)
    before, since = set(_queued(mine)), time.strftime("%Y-%m-%dT%H:%M:%S")
    proc = run_cli("pipeline", "submit", str(path), "--executor", "slurm", cwd=REPO)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stderr.startswith("dii-hpc: error: sbatch rejected the stage site job: ")
    assert "partition" in proc.stderr.lower() and proc.stderr.count("\n") == 1
    deadline = time.time() + 120  # the held array was cancelled: wait until Slurm drops it
    while not set(_queued(mine)) <= before and time.time() < deadline:
        time.sleep(0.5)
    assert set(_queued(mine)) <= before, set(_queued(mine)) - before
    # the sweep's array was queued, then cancelled (a job held until its end is listed in a
    # time window only by its end state: it was never eligible to start)
    def cancelled() -> str:  # accounting takes the record a moment after the scheduler
        return subprocess.run(["sacct", "-n", "-X", "-P", "--name", mine, "-s", "CA", "-S",
                               since, "-E", "now", "-o", "JobID,State"],
                              capture_output=True, text=True, check=True).stdout.strip()

    while not cancelled() and time.time() < deadline:
        time.sleep(0.5)
    assert cancelled() and all("CANCELLED" in ln for ln in cancelled().splitlines()), cancelled()
    store = Store(store_path)
    assert "pl-refused" not in store.experiments() or not store.records("pl-refused")
    assert not list((store_path / "pipelines").glob("*/pipeline.json"))
