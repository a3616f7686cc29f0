"""`dii-hpc audit` on the vision configs: the main engine hands these tasks to the vision one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.audit.conftest import cli

REPO = Path(__file__).resolve().parents[3]
DET = str(REPO / "configs/audit-detection.yaml")
SEG = str(REPO / "configs/audit-segmentation.yaml")


def test_attack_pgd_on_detection_config(tmp_path: Path, store_path: Path, detector: Any,
                                        capsys: Any) -> None:
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
                                                        segmenter: Any, capsys: Any) -> None:
    junit = tmp_path / "j.xml"
    code = cli("audit", "suite", "evasion", "--config", SEG, "--n-samples", "16",
               "--fail-under", "relative_miou=0.9", "--junit", str(junit))
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dii-hpc: error: threshold breached: relative_miou=")
    assert junit.read_text().count("<testcase") == 4  # fgsm, pgd, patch, threshold


def test_bad_input_exit_2_one_line(store_path: Path, detector: Any, capsys: Any) -> None:
    code = cli("audit", "attack", "fgsm", "--config", DET,
               "--data", "tests.audit.vision.factories:boxes_outside")
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "outside the 32x32 image" in err[0]
    assert not store_path.exists() or not list(store_path.rglob("run.json"))
