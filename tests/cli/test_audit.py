"""The `dii-hpc audit` commands (cli/audit.py): exit codes, JSON, JUnit, stored runs, bad input;
tabular and image models, and the vision configs the main engine hands to the vision one."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.audit.conftest import DIGITS, cli

REPO = Path(__file__).resolve().parents[2]
DET = str(REPO / "configs/audit-detection.yaml")
SEG = str(REPO / "configs/audit-segmentation.yaml")


def test_fail_under_sets_exit_code_and_junit_parses(tmp_path: Path, store_path: Path,
                                                    digits: Any, capsys: Any) -> None:
    ok_xml, bad_xml = tmp_path / "ok.xml", tmp_path / "bad.xml"
    common = ["audit", "attack", "fgsm", *DIGITS, "--n-samples", "100"]
    assert cli(*common, "--fail-under", "robust_accuracy=0.0", "--junit", str(ok_xml)) == 0
    assert cli(*common, "--fail-under", "robust_accuracy=0.99", "--junit", str(bad_xml),
               "--json", str(tmp_path / "r.json")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dii-hpc: error: threshold breached: robust_accuracy=")
    for path, failures in ((ok_xml, "0"), (bad_xml, "1")):
        suite = ET.parse(path).getroot().find("testsuite")
        assert suite.get("failures") == failures and suite.get("tests") == "2"
        assert [c.get("name") for c in suite.findall("testcase")][0] == "fgsm"
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["attack"] == "fgsm" and result["n_samples"] == 100
    assert {"clean_accuracy", "robust_accuracy"} <= set(result["metrics"])
    assert result["params"]["eps"] == pytest.approx(0.1)
    assert "eps_step" not in result["params"]  # one step: FGSM has no step size to record


def test_audit_is_stored_as_a_run_with_section_and_manifest(tmp_path: Path, store_path: Path,
                                                             digits: Any) -> None:
    import dii_hpc

    with dii_hpc.start_run("digits", params={"lr": 0.003}) as train:
        pass
    path = tmp_path / "r.json"
    assert cli("audit", "attack", "pgd", "--config", str(REPO / "configs/audit-digits.yaml"),
               "--n-samples", "50", "--parent-run", train.id, "--json", str(path)) == 0
    run_id = json.loads(path.read_text())["run_id"]
    record = dii_hpc.Store(store_path).run(run_id)
    assert record["kind"] == "audit" and record["parent_run"] == train.id
    audit = record["audit"]
    assert audit["level"] == "II" and audit["threat"] == "evasion" and audit["attack"] == "pgd"
    assert audit["metrics"]["robust_accuracy"] <= 0.05  # the config's documented eps 0.2
    assert audit["config"]["params"]["eps"] == 0.2
    assert record["metrics"]["robust_accuracy"]["last"] == audit["metrics"]["robust_accuracy"]
    manifest = record["manifest"]
    assert len(manifest["weights_sha256"]) == 64 and "adversarial-robustness-toolbox" in \
        manifest["versions"]


def test_level_three_class_path_equals_level_two(tmp_path: Path, store_path: Path,
                                                 digits: Any) -> None:
    cfg = tmp_path / "raw.yaml"
    cfg.write_text(
        "model: dii_hpc.examples.digits:digits_model\n"
        "data: dii_hpc.examples.digits:digits_data\n"
        "attack: art.attacks.evasion.FastGradientMethod\n"
        "n_samples: 80\n"
        "params: {eps: 0.1, norm: inf, batch_size: 128}\n")
    assert cli("audit", "run", str(cfg), "--json", str(tmp_path / "raw.json"), "--no-store") == 0
    assert cli("audit", "attack", "fgsm", *DIGITS, "--n-samples", "80", "--no-store",
               "--json", str(tmp_path / "two.json")) == 0
    raw = json.loads((tmp_path / "raw.json").read_text())
    two = json.loads((tmp_path / "two.json").read_text())
    assert raw["level"] == "III" and raw["grade"] is None
    assert raw["metrics"]["robust_accuracy"] == two["metrics"]["robust_accuracy"]


@pytest.mark.parametrize("args,message", [
    (["attack", "nosuch", *DIGITS], "unknown attack 'nosuch'; known: fgsm, pgd"),
    (["suite", "nosuch", *DIGITS], "unknown suite 'nosuch'; known suites: evasion, privacy, "
                                   "poisoning"),
    (["attack", "pgd", *DIGITS, "--param", "eps=2"], "eps=2 is outside (0, 1]"),
    (["attack", "pgd", *DIGITS, "--param", "max_iter=-1"], "ART rejected the parameters: "),
    (["attack", "pgd", "--model", "tests.audit.factories:predict_only", "--data",
      "dii_hpc.examples.digits:digits_data"], "needs model.get_grad(...)"),
    (["attack", "fgsm", "--model", "dii_hpc.examples.digits:digits_model", "--data",
      "tests.audit.factories:wrong_shape"], "x has shape (1437, 64), model expects (N, 1, 8, 8)"),
    (["attack", "fgsm", "--model", "dii_hpc.examples.digits:digits_model", "--data",
      "tests.audit.factories:nan_data"], "test data: x contains NaN"),
    (["attack", "fgsm", "--model", "dii_hpc.examples.digits:digits_model", "--data",
      "tests.audit.factories:bad_labels"], "labels span [0, 12] but the model has nb_classes=10"),
    (["attack", "fgsm", "--model", "nosuchmodule:f", "--data", "x:y"], "cannot import module"),
])
def test_bad_input_is_one_line_exit_two(args: list[str], message: str, store_path: Path,
                                        digits: Any, capsys: Any) -> None:
    assert cli("audit", *args, "--no-store") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_black_box_attack_runs_on_predict_only_model(store_path: Path, digits: Any) -> None:
    assert cli("audit", "attack", "hsj", "--model", "tests.audit.factories:predict_only",
               "--data", "dii_hpc.examples.digits:digits_data", "--n-samples", "10",
               "--no-store") == 0


def test_list_names_every_attack(capsys: Any) -> None:
    assert cli("audit", "list") == 0
    out = capsys.readouterr().out
    for name in ("pgd", "square", "mi_gap", "mi_label_only", "backdoor", "spectral_signature"):
        assert name in out
    label_only = next(line for line in out.splitlines() if line.startswith("mi_label_only "))
    assert "90 model queries per sample" in label_only and "500 members" in label_only
    for name in ("dpatch", "robust_dpatch", "patch"):  # detection / segmentation attacks too
        row = next(line for line in out.splitlines() if line.startswith(f"{name} "))
        assert "detection" in row and "dii-hpc" in row


def test_attack_pgd_on_detection_config(tmp_path: Path, store_path: Path, detector: Any,
                                        capsys: Any, one_thread: None) -> None:
    import dii_hpc

    out = tmp_path / "r.json"
    assert cli("audit", "attack", "pgd", "--config", DET, "--json", str(out)) == 0
    result = json.loads(out.read_text())
    m = result["metrics"]
    assert result["task"] == "object_detection" and result["level"] == "II"
    assert result["params"]["eps"] == 0.15 and m["adv_map_50"] <= 0.5 * m["clean_map_50"]
    record = dii_hpc.Store(store_path).run(result["run_id"])
    assert record["kind"] == "audit" and record["audit"]["metrics"] == m
    assert "mAP@0.5 falls from" in capsys.readouterr().out


def test_evasion_suite_on_segmentation_config_threshold(tmp_path: Path, store_path: Path,
                                                        segmenter: Any, capsys: Any,
                                                        one_thread: None) -> None:
    junit = tmp_path / "j.xml"
    code = cli("audit", "suite", "evasion", "--config", SEG, "--n-samples", "16",
               "--fail-under", "relative_miou=0.9", "--junit", str(junit))
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dii-hpc: error: threshold breached: relative_miou=")
    assert junit.read_text().count("<testcase") == 4  # fgsm, pgd, patch, threshold


def test_vision_bad_input_exit_2_one_line(store_path: Path, detector: Any, capsys: Any,
                                          one_thread: None) -> None:
    code = cli("audit", "attack", "fgsm", "--config", DET,
               "--data", "tests.audit.vision.factories:boxes_outside")
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "outside the 32x32 image" in err[0]
    assert not store_path.exists() or not list(store_path.rglob("run.json"))


def _bad_configs(tmp_path: Path) -> dict[str, Path]:
    files = {"seed": "seed: abc\n", "floor": "fail_under: {robust_accuracy: high}\n",
             "ceiling": "fail_over: [auc]\n", "n": "n_samples: 0\n"}
    out = {}
    for name, text in files.items():
        out[name] = tmp_path / f"{name}.yaml"
        out[name].write_text("model: nosuchmodule:f\ndata: x:y\n" + text)
    out["latin"] = tmp_path / "latin.yaml"
    out["latin"].write_bytes(b"model: caf\xe9:m\n")
    return out


@pytest.mark.parametrize("args,message", [
    (["attack", "fgsm", *DIGITS, "-p", "eps=abc"], "attack fgsm: eps='abc' is not a number"),
    (["attack", "backdoor", *DIGITS, "-p", "fraction=abc"], "attack backdoor: fraction='abc' is not a number"),
    (["attack", "backdoor", *DIGITS, "-p", "target=1.5"], "attack backdoor: target=1.5 is not an integer"),
    (["attack", "fgsm", *DIGITS, "--fail-under", "robust_accuracy=nan"],
     "--fail-under 'robust_accuracy=nan': expected METRIC=NUMBER (a finite number)"),
    (["attack", "fgsm", *DIGITS, "--fail-over", "auc=inf"], "--fail-over 'auc=inf'"),
    (["attack", "fgsm", "-c", "{seed}"], "seed.yaml:3: seed: 'abc' is not an integer"),
    (["attack", "fgsm", "-c", "{floor}"],  # refused before the model is even imported
     "floor.yaml:3: fail_under.robust_accuracy: 'high' is not a number"),
    (["attack", "fgsm", "-c", "{ceiling}"], "ceiling.yaml:3: fail_over: must be a mapping METRIC: NUMBER"),
    (["attack", "fgsm", "-c", "{n}"], "n.yaml:3: n_samples: 0 must be a positive integer"),
    (["attack", "fgsm", "-c", "{latin}"], "latin.yaml: not UTF-8 text (byte 0xe9 at offset 10)"),
    (["attack", "fgsm", *DIGITS, "--junit", "{tmp}"], "--junit {tmp}: is a directory; give a file"),
    (["attack", "fgsm", *DIGITS, "--json", "{tmp}"], "--json {tmp}: is a directory; give a file"),
])
def test_bad_values_are_refused_before_the_attack(args: list[str], message: str, tmp_path: Path,
                                                  store_path: Path, digits: Any, capsys: Any) -> None:
    """#14 item 12: each once reached the attack (exit 3 or a late exit 2) or was accepted."""
    subst = {"tmp": str(tmp_path), **{k: str(v) for k, v in _bad_configs(tmp_path).items()}}
    argv = [a.format(**subst) if "{" in a else a for a in args]
    assert cli("audit", *argv, "--no-store") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message.format(**subst) in err[0], err
    assert "Traceback" not in err[0]


def test_audit_config_finds_modules_beside_it(tmp_path: Path, store_path: Path, capsys: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """#14 item 15: modules named in an audit config were looked for in the current folder only."""
    (tmp_path / "t3").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "t3" / "mymod_audit_t3.py").write_text(
        "from dii_hpc.examples.tabular import breast_cancer_data as data\n"
        "from dii_hpc.examples.tabular import breast_cancer_model as model\n")
    (tmp_path / "t3" / "audit.yaml").write_text(
        "model: mymod_audit_t3:model\ndata: mymod_audit_t3:data\nn_samples: 20\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert cli("audit", "attack", "fgsm", "-c", "../t3/audit.yaml", "--no-store") == 0, \
        capsys.readouterr().err
    (tmp_path / "t3" / "audit.yaml").write_text("model: nomod_audit_t3:model\ndata: x:y\n")
    assert cli("audit", "attack", "fgsm", "-c", "../t3/audit.yaml", "--no-store") == 2
    assert f"(looked in sys.path, {tmp_path / 't3'}, .)" in capsys.readouterr().err


def test_printed_result_reads_well(capsys: Any) -> None:
    """#14 "smaller": "evasion evasion suite", and "0.1696 < 0.1696" for a breached threshold."""
    from dii_hpc.cli.audit import _print, breach_message

    result = {"level": "I", "threat": "evasion", "suite": "evasion", "task": "image_classification",
              "n_samples": 50, "grade": "C", "attacks": [], "summary": "s"}
    _print(result, [])
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "audit level I: evasion suite on image_classification (n=50) grade C"
    check = {"metric": "robust_accuracy", "value": 0.169612, "limit": 0.1696201, "op": "<"}
    assert breach_message(check) == "threshold breached: robust_accuracy=0.16961 < 0.16962"
    check = {"metric": "auc", "value": 0.75, "limit": 0.7, "op": ">"}
    assert breach_message(check) == "threshold breached: auc=0.75 > 0.7"
