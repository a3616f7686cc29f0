"""The one submission backend: parameters from Resources, and the exact sbatch text submitted.

Golden files hold the sbatch scripts for a single-node array, a multi-node job, a GPU job and
a multi-rank `dii-hpc run` job; `DII_HPC_UPDATE_GOLDEN=1` rewrites them, never under CI=true.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from dii_hpc.config.schema import Resources
from dii_hpc.errors import BadInput
from dii_hpc.launch import backend
from tests.conftest import GOLDEN_UPDATE, check_golden

GOLDEN = Path(__file__).parent / "golden"
STORE = Path("/store")
FOLDER = STORE / "jobs" / "01SUBMISSION" / "submitit"
PYTHON = "/opt/venv/bin/python"


def _golden(name: str, text: str) -> None:
    check_golden(GOLDEN / name, text)


def test_ci_refuses_to_regenerate_golden_files(monkeypatch: pytest.MonkeyPatch) -> None:
    golden = GOLDEN / "gpu.sbatch"
    before = golden.read_bytes()
    monkeypatch.setenv(GOLDEN_UPDATE, "1")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="refused when CI=true"):
        check_golden(golden, "whatever the code prints now\n")
    assert golden.read_bytes() == before


def _job(res: Resources, *, name: str = "dii-digits", setup: tuple[str, ...] = (),
         folder: Path = FOLDER, use_srun: bool = True) -> backend.Job:
    return backend.job("slurm", folder, res, STORE, name, setup, use_srun=use_srun, check=False)


def test_single_node_array_golden() -> None:
    res = Resources(partition="debug", time="00:30:00", cpus_per_task=2, mem="2G",
                    array_parallelism=4, max_requeues=2)
    text = backend.sbatch_text(_job(res, setup=("module load python/3.11",)), 8, python=PYTHON)
    _golden("single_node_array.sbatch", text)
    assert "#SBATCH --array=0-7%4" in text and "#SBATCH --nodes=1" in text
    assert "export DII_HPC_STORE=/store" in text and "kill-on-bad-exit" not in text


def test_multi_node_golden() -> None:
    res = Resources(nodes=2, tasks_per_node=2, time="02:00:00", constraint="ib&skylake",
                    exclusive=True, account="ml", qos="high", extra={"mail-type": "END"})
    text = backend.sbatch_text(_job(res), 3, python=PYTHON)
    _golden("multi_node.sbatch", text)
    for line in ("--nodes=2", "--ntasks-per-node=2", "--constraint='ib&skylake'", "--exclusive",
                 "--mail-type=END"):
        assert f"#SBATCH {line}" in text
    assert "srun --unbuffered" in text and "--kill-on-bad-exit=1" in text


def test_gpu_golden() -> None:
    res = Resources(tasks_per_node=2, gpus_per_task=1, gres="gpu:a100:2", mem="32G",
                    partition="gpu", time="1:00:00")
    text = backend.sbatch_text(_job(res, name="dii-predict-scan"), 1, python=PYTHON)
    _golden("gpu.sbatch", text)
    assert "#SBATCH --gpus-per-task=1" in text and "#SBATCH --gres=gpu:a100:2" in text
    assert "--array" not in text


def test_multi_rank_run_golden() -> None:
    """`dii-hpc run --nodes 2`: the launcher runs once, outside srun; it srun's the ranks."""
    res = Resources(nodes=2, tasks_per_node=1, time="10")
    text = backend.sbatch_text(_job(res, name="dii-run-cmds", use_srun=False), 1, python=PYTHON)
    _golden("run_multi_rank.sbatch", text)
    assert "srun" not in text


def test_printed_text_is_what_submitit_submits(tmp_path: Path) -> None:
    res = Resources(nodes=2, tasks_per_node=2, gpus=1, cpus_per_task=3, array_parallelism=2)
    job = _job(res, folder=tmp_path / "submitit", setup=("source env.sh",))
    ex = backend.executor(job)
    ex.parameters["map_count"] = 5  # what submitit sets for an array of 5
    assert backend.sbatch_text(job, 5) == ex._make_submission_file_text(ex._submitit_command_str, "u")
    assert ex.max_num_timeout == res.max_requeues


def test_submitits_private_sbatch_writer_still_takes_what_we_pass(tmp_path: Path) -> None:
    """Fails loudly when a submitit release renames or reshapes ``_make_sbatch_string``:
    ``submit --dry-run`` shows its output as the exact sbatch file submitit would write."""
    from submitit.slurm import slurm

    assert hasattr(slurm, "_make_sbatch_string"), "submitit dropped _make_sbatch_string"
    accepted = set(inspect.signature(slurm._make_sbatch_string).parameters)
    res = Resources(partition="debug", account="lab", qos="normal", time="01:00:00", mem="2G",
                    nodes=2, tasks_per_node=2, gpus_per_task=1, gres="gpu:2", exclusive=True,
                    constraint="a100", array_parallelism=4, extra={"mail-type": "END"})
    job = _job(res, folder=tmp_path / "submitit", setup=("module load x",))
    passed = {"command", "folder", "map_count", *backend.slurm_parameters(job)}
    assert passed <= accepted, f"_make_sbatch_string no longer takes {sorted(passed - accepted)}"
    script = backend.sbatch_text(job, 8)
    for line in ("#SBATCH --array=0-7%4", "#SBATCH --partition=debug", "#SBATCH --time=60",
                 "#SBATCH --constraint=a100", "#SBATCH --nodes=2", "module load x"):
        assert line in script, line


def test_parameters_follow_resources() -> None:
    p = backend.slurm_parameters(_job(Resources(time="1", signal_delay_s=500)))
    assert p["signal_delay_s"] == 30  # never more than half of a 1-minute limit
    assert (p["nodes"], p["ntasks_per_node"], p["cpus_per_task"], p["time"]) == (1, 1, 1, 1)
    assert not {"gres", "gpus_per_task", "exclusive", "srun_args", "use_srun"} & set(p)
    assert p["setup"] == ["export DII_HPC_STORE=/store"]
    local = backend.local_parameters(backend.job("local", FOLDER, Resources(
        tasks_per_node=2, gpus_per_task=1, time="5"), STORE, "x"))
    assert local == {"timeout_min": 5, "signal_delay_s": 90, "tasks_per_node": 2,
                     "gpus_per_node": 2}


def test_job_names() -> None:
    assert backend.job_name("sweep", "digits") == "dii-digits"
    assert backend.job_name("run", "cmds") == "dii-run-cmds"
    assert backend.job_name("audit", "evasion") == "dii-audit-evasion"


def test_local_executor_refuses_several_nodes() -> None:
    with pytest.raises(BadInput, match=r"^nodes: 2 asked, but the local executor runs on this host"):
        backend.job("local", FOLDER, Resources(nodes=2), STORE, "x")
    backend.job("local", FOLDER, Resources(tasks_per_node=2), STORE, "x")  # one node: fine


def test_only_wide_requests_ask_the_cluster() -> None:
    assert not backend.needs_cluster_check(Resources(cpus_per_task=8, mem="4G"))
    assert backend.needs_cluster_check(Resources(nodes=2))
    assert backend.needs_cluster_check(Resources(gpus_per_task=1))
    assert backend.needs_cluster_check(Resources(gres="mps:10"))


def test_rank_zero_runs_the_shard_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    shard = backend.RankZero(lambda i: calls.append(i) or i)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert shard(7) is None and calls == []
    monkeypatch.setenv("RANK", "0")
    assert shard(7) == 7 and calls == [7]


def test_a_dependency_holds_the_job_and_a_failed_need_cancels_it() -> None:
    res = Resources(time="00:10:00", extra={"mail-type": "END"})
    job = backend.job("slurm", FOLDER, res, STORE, "dii-x", dependency="afterok:12:13", check=False)
    text = backend.sbatch_text(job, python=PYTHON)
    for line in ("#SBATCH --dependency=afterok:12:13", "#SBATCH --kill-on-invalid-dep=yes",
                 "#SBATCH --mail-type=END"):
        assert line in text, line
    plain = backend.sbatch_text(_job(res), python=PYTHON)
    assert "--dependency" not in plain and "kill-on-invalid-dep" not in plain
    local = backend.job("local", FOLDER, res, STORE, "x", dependency="afterok:1")
    assert "dependency" not in backend.local_parameters(local)  # the local caller orders work
