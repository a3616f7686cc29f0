"""`dii-hpc audit ... --standard autoattack | --engine torch | --eps 8/255` from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.audit.conftest import DIGITS, cli, demo_cache, digits  # noqa: F401 - fixtures

SKLEARN = ["--model", "dii_hpc.examples.tabular:breast_cancer_sklearn",
           "--data", "dii_hpc.examples.tabular:breast_cancer_data"]
PREDICT_ONLY = ["--model", "tests.audit.factories:predict_only",
                "--data", "dii_hpc.examples.digits:digits_data"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.mark.parametrize("args,message", [
    (["suite", "evasion", *DIGITS, "--standard", "autoattack", "--eps", "8/x"],
     "--eps='8/x' is not a number or a fraction such as 8/255"),
    (["suite", "evasion", *DIGITS, "--standard", "autoattack", "--eps", "1/0"],
     "--eps='1/0' is not a number or a fraction"),
    (["suite", "evasion", *PREDICT_ONLY, "--standard", "autoattack"],
     "--standard autoattack needs model.get_grad(...) but PredictOnly does not implement it"),
    (["suite", "evasion", *SKLEARN, "--standard", "autoattack"],
     "--standard autoattack needs a torch model"),
    (["attack", "fgsm", *SKLEARN, "--engine", "torch"],
     "--engine torch needs a torch model (a TorchModelWrapper exposing its nn.Module"),
    (["attack", "deepfool", *DIGITS, "--engine", "torch"],
     "attack deepfool has no torch engine implementation"),
    (["attack", "pgd", *DIGITS, "--engine", "jax"], "--engine 'jax': expected one of art, torch"),
    (["attack", "pgd", *DIGITS, "--param", "eps=8/x"],
     "attack pgd: eps='8/x' is not a number or a fraction such as 8/255"),
    (["suite", "evasion", *DIGITS, "--standard", "robustbench"],
     "--standard 'robustbench': known standards: autoattack"),
    (["suite", "evasion", *DIGITS, "--eps", "8/255"], "add --standard autoattack"),
    (["suite", "evasion", *DIGITS, "--standard", "autoattack", "--norm", "1"],
     "norm 1 is not inf or 2"),
    (["suite", "evasion", *DIGITS, "--standard", "autoattack", "--mpi", "2"],
     "--standard autoattack does not shard over --mpi; use --executor slurm"),
    (["suite", "evasion", *DIGITS, "--engine", "torch", "--mpi", "2"],
     "--engine torch does not shard over --mpi; use --executor slurm"),
    (["suite", "privacy", *DIGITS, "--standard", "autoattack"],
     "--standard autoattack applies to `suite evasion`"),
    (["suite", "poisoning", *DIGITS, "--standard", "autoattack", "--executor", "slurm"],
     "--standard autoattack applies to `suite evasion`, not poisoning"),
])
def test_bad_input_is_one_line_exit_two(args: list[str], message: str, store_path: Path,
                                        digits: Any, capsys: Any) -> None:  # noqa: F811
    assert cli("audit", *args, "--no-store") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_list_states_the_standard_and_its_parameters(capsys: Any) -> None:
    assert cli("audit", "list") == 0
    out = capsys.readouterr().out
    assert "autoattack-standard (RobustBench) v0.1" in out
    for text in ("apgd-ce", "n_target_classes=9", "fab-t", "alpha_max=0.1",
                 "n_queries=5000", "p_init=0.8", "eps default: Linf 8/255, L2 0.5",
                 "torch (fgsm, pgd, pgd_l2, apgd, cw"):
        assert text in out, text


def test_engine_torch_gives_arts_numbers(tmp_path: Path, store_path: Path,
                                         digits: Any) -> None:  # noqa: F811
    common = ["audit", "attack", "pgd", *DIGITS, "--n-samples", "40", "--no-store",
              "-p", "num_random_init=0", "-p", "max_iter=5", "-p", "eps=8/255"]
    out = {}
    for engine in ("art", "torch"):
        path = tmp_path / f"{engine}.json"
        assert cli(*common, "--engine", engine, "--json", str(path)) == 0
        out[engine] = json.loads(path.read_text())
    assert out["torch"]["attacks"][0]["engine"] == "torch"
    assert out["torch"]["params"]["eps"] == pytest.approx(8 / 255)
    for key in ("clean_accuracy", "robust_accuracy", "attack_success_rate"):
        assert out["torch"]["metrics"][key] == out["art"]["metrics"][key]


@pytest.mark.slow
def test_standard_runs_with_autoattacks_parameters(tmp_path: Path, store_path: Path,
                                                  digits: Any, capsys: Any) -> None:  # noqa: F811
    """The real standard (100 iterations, 9 targets, 5,000 queries) on 8 samples, stored."""
    path = tmp_path / "aa.json"
    assert cli("audit", "suite", "evasion", *DIGITS, "--standard", "autoattack", "--eps",
               "8/255", "--n-samples", "8", "--json", str(path)) == 0
    result = json.loads(path.read_text())
    assert result["standard"]["comparable"] and result["level"] == "I"
    assert result["config"]["standard"] == "autoattack"
    params = {a["name"]: a["params"] for a in result["attacks"]}
    assert params["square"]["n_queries"] == 5000 and params["apgd-t"]["n_target_classes"] == 9
    assert result["metrics"]["robust_accuracy"] <= result["metrics"]["clean_accuracy"]
    out = capsys.readouterr().out
    assert "comparable with RobustBench" in out and "run " in out
