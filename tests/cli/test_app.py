"""The root command (cli/app.py, errors mapped by cli/entry.py): fast --help and --version, and
malformed input across the whole CLI: one line, exit 2, and the store left exactly as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dii_hpc
from tests.conftest import run_cli, tree_snapshot

GOOD_MODEL = "tests.launch.fixtures.models:Quadratic"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    base = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    out = {}

    def put(name: str, text: str) -> None:
        out[name] = d / name
        out[name].write_text(text)

    base.to_csv(d / "ref.csv", index=False)
    out["ref"] = d / "ref.csv"
    base.rename(columns={"c": "z"}).to_csv(d / "renamed.csv", index=False)
    out["renamed"] = d / "renamed.csv"
    base.iloc[:0].to_csv(d / "empty.csv", index=False)
    out["empty"] = d / "empty.csv"
    base.assign(b=np.nan).to_csv(d / "nan.csv", index=False)
    out["nan"] = d / "nan.csv"
    base.assign(a="text").to_csv(d / "text.csv", index=False)
    out["text"] = d / "text.csv"
    put("syntax.yaml", "experiment: x\nmodels: {a: [\n")
    put("unknown_key.yaml", f"experiment: x\nmodels: {{m: {{class: '{GOOD_MODEL}'}}}}\nmodles: {{}}\n")
    put("wrong_type.yaml", f"experiment: x\nmodels: {{m: {{class: '{GOOD_MODEL}'}}}}\n"
        "resources: {cpus_per_task: two}\n")
    put("no_module.yaml", "experiment: x\nmodels: {m: {class: 'no_such_module_xyz:M'}}\n")
    put("no_attr.yaml", "experiment: x\nmodels: {m: {class: 'tests.launch.fixtures.models:Nope'}}\n")
    put("no_train.yaml", "experiment: x\nmodels: {m: {class: 'tests.launch.fixtures.models:NoTrain'}}\n")
    put("bad_sweep.yaml", f"experiment: x\nmodels: {{m: {{class: '{GOOD_MODEL}'}}}}\n"
        "sweep: {grid: {models.nope.params.width: [1, 2]}}\n")
    put("ok.yaml", f"experiment: x\nmodels: {{m: {{class: '{GOOD_MODEL}'}}}}\n")
    put("audit_unknown.yaml", "model: dii_hpc.examples.digits:digits_model\n"
        "data: dii_hpc.examples.digits:digits_data\nbogus_key: 1\n")
    put("audit_ok.yaml", "model: dii_hpc.examples.tabular:breast_cancer_model\n"
        "data: dii_hpc.examples.tabular:breast_cancer_data\nn_samples: 20\n")
    return out


@pytest.fixture()
def populated(store_path: Path) -> str:
    with dii_hpc.start_run("exp", params={"lr": 0.1}) as run:
        run.log_metric("acc", 0.9, step=0)
    return run.id


def _cases() -> list[tuple[str, list[str]]]:
    return [
        ("unknown experiment", ["runs", "list", "-e", "nope"]),
        ("filter missing value", ["runs", "list", "--filter", "lr >"]),
        ("filter open paren", ["runs", "list", "--filter", "((lr > 1)"]),
        ("filter double op", ["runs", "list", "--filter", "lr >> 1"]),
        ("filter bare keyword", ["runs", "list", "--filter", "and"]),
        ("filter empty", ["runs", "list", "--filter", " "]),
        ("filter bad char", ["runs", "list", "--filter", "lr ? 1"]),
        ("filter unknown column", ["runs", "list", "--filter", "params.nope > 1"]),
        ("filter string order", ["runs", "list", "--filter", "status < FINISHED"]),
        ("sort unknown", ["runs", "list", "--sort", "metrics.nope"]),
        ("format unknown", ["runs", "list", "--format", "xml"]),
        ("kind option typo", ["runs", "list", "--knd", "train"]),
        ("show unknown run", ["runs", "show", "01ABCDEFGHJKMNPQRSTVWXYZ01"]),
        ("compare one run", ["runs", "compare", "x"]),
        ("compare unknown runs", ["runs", "compare", "01ABCDEFGHJKMNPQRSTVWXYZ01", "x1"]),
        ("export unknown", ["export", "nope", "--out", "{tmp}/x.h5"]),
        ("export no --out", ["export", "exp"]),
        ("compact unknown", ["store", "compact", "nope"]),
        ("gc bad age", ["store", "gc", "--older-than", "7x"]),
        ("init bad umask", ["store", "init", "--umask", "99z"]),
        ("init unknown group", ["store", "init", "--group", "no-such-group-xyz"]),
        ("merge missing source", ["store", "merge", "{tmp}/no-such-store", "{tmp}/dst"]),
        ("unknown command", ["bogus-command"]),
        ("submit missing file", ["submit", "{tmp}/missing.yaml", "--dry-run"]),
        ("submit yaml syntax", ["submit", "{syntax.yaml}", "--dry-run"]),
        ("submit unknown key", ["submit", "{unknown_key.yaml}", "--dry-run"]),
        ("submit wrong type", ["submit", "{wrong_type.yaml}", "--dry-run"]),
        ("submit no module", ["submit", "{no_module.yaml}", "--dry-run"]),
        ("submit no attribute", ["submit", "{no_attr.yaml}", "--dry-run"]),
        ("submit no train_function", ["submit", "{no_train.yaml}", "--dry-run"]),
        ("submit sweep unknown key", ["submit", "{bad_sweep.yaml}", "--dry-run"]),
        ("submit bad --set", ["submit", "{ok.yaml}", "--dry-run", "--set", "noequals"]),
        ("submit bad executor", ["submit", "{ok.yaml}", "--dry-run", "--executor", "bogus"]),
        ("submit nothing", ["submit"]),
        ("run without command", ["run", "--executor", "local"]),
        ("logs unknown run", ["logs", "01ABCDEFGHJKMNPQRSTVWXYZ01"]),
        ("cancel unknown", ["cancel", "nope-nothing"]),
        ("status unknown experiment", ["status", "nope"]),
        ("resubmit unknown", ["resubmit", "nope", "--failed"]),
        ("audit unknown suite", ["audit", "suite", "bogus", "--config", "{audit_ok.yaml}"]),
        ("audit unknown attack", ["audit", "attack", "bogus", "--config", "{audit_ok.yaml}"]),
        ("audit no model", ["audit", "attack", "pgd"]),
        ("audit unimportable model", ["audit", "attack", "fgsm", "--model", "no_mod_xyz:m",
                                      "--data", "dii_hpc.examples.tabular:breast_cancer_data"]),
        ("audit bad --param", ["audit", "attack", "fgsm", "--config", "{audit_ok.yaml}", "--param", "eps"]),
        ("audit missing config", ["audit", "run", "{tmp}/missing.yaml"]),
        ("audit unknown key", ["audit", "suite", "evasion", "--config", "{audit_unknown.yaml}"]),
        ("audit bad fail-under", ["audit", "attack", "fgsm", "--config", "{audit_ok.yaml}",
                                  "--fail-under", "robust_accuracy"]),
        ("drift missing file", ["drift", "check", "--reference", "{tmp}/missing.csv", "--current", "{ref}"]),
        # #30: columns renamed, gone all-NaN or turned to text in the current batch are
        # data-quality rules' failures (exit 1, tests/drift/test_quality.py); a broken
        # reference and bad options stay bad input
        ("drift empty batch", ["drift", "check", "--reference", "{ref}", "--current", "{empty}"]),
        ("drift all-NaN reference column", ["drift", "check", "--reference", "{nan}",
                                            "--current", "{ref}"]),
        ("drift bad chunk size", ["drift", "check", "--reference", "{ref}", "--current", "{ref}",
                                  "--chunk-size", "0"]),
        ("drift score unknown run", ["drift", "score", "--labels", "{ref}", "--run", "nope"]),
        ("drift unknown monitor", ["drift", "check", "--monitor", "nope", "--data", "{ref}"]),
        ("drift schedule unknown", ["drift", "schedule", "nope", "--every", "1d", "--data-glob", "x*"]),
        ("report unknown experiment", ["report", "build", "--experiment", "nope", "--out", "{tmp}/site"]),
        ("predict unimportable model", ["predict", "--model", "no_mod_xyz:m", "--data", "{ref}",
                                        "--out", "{tmp}/pred"]),
        ("predict empty glob", ["predict", "--model", "dii_hpc.inference.demo:mlp",
                                "--data", "{tmp}/none-*.csv", "--out", "{tmp}/pred"]),
    ]


@pytest.mark.parametrize(("label", "args"), _cases(), ids=[c[0] for c in _cases()])
def test_malformed_input(label: str, args: list[str], files: dict[str, Path], populated: str,
                         store_path: Path, tmp_path: Path) -> None:
    subst = {"tmp": str(tmp_path), **{k: str(v) for k, v in files.items()}}
    argv = []
    for arg in args:
        for key, value in subst.items():
            arg = arg.replace("{" + key + "}", value)
        argv.append(arg)
    before = tree_snapshot(store_path)
    res = run_cli(*argv, env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert res.returncode == 2, f"{label}: exit {res.returncode}\n{res.stdout[-500:]}\n{res.stderr[-800:]}"
    assert "Traceback" not in res.stderr
    if "Usage:" not in res.stderr:  # click's usage errors print the usage line first
        assert len(lines) == 1, f"{label}: {res.stderr}"
    assert tree_snapshot(store_path) == before, f"{label}: the store changed"


def test_there_are_at_least_fifty_cases() -> None:
    assert len(_cases()) >= 50


def test_version_and_help_are_fast_and_import_nothing_heavy() -> None:
    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.startswith("dii-hpc ")
    import subprocess
    import sys

    code = ("import sys; from dii_hpc.cli.app import app; "
            "heavy = [m for m in ('torch', 'zarr', 'pandas', 'art', 'h5py', 'numpy') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert run_cli("--help").returncode == 0
