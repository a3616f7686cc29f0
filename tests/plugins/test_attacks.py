"""An attack from an installed plug-in (entry point ``dii_hpc.attacks`` only): listed with its
engine and origin by `dii-hpc audit list`, run by `dii-hpc audit attack sign_step`, its metrics
recorded in the result and in the audit run like a built-in attack's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

DII_HPC = str(Path(sys.executable).with_name("dii-hpc"))
ORIGIN = "dii-hpc-example-plugin 0.1.0 (dii_hpc_example_plugin.attack:SIGN_STEP)"
CONFIG = ("model: dii_hpc.examples.tabular:breast_cancer_sklearn\n"
          "data: dii_hpc.examples.tabular:breast_cancer_data\nn_samples: 60\nexperiment: plug\n")


def dii_hpc(tmp_path: Path, extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **extra_env, "DII_HPC_STORE": str(tmp_path / "store")}
    return subprocess.run([DII_HPC, *args], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300, check=False)


def test_audit_list_shows_the_plugin_attack_with_its_origin(tmp_path: Path,
                                                            plugin_env: dict[str, str]) -> None:
    res = dii_hpc(tmp_path, plugin_env, "audit", "list")
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line for line in res.stdout.splitlines() if line.strip()}
    assert rows["sign_step"].split()[1:3] == ["evasion", "numpy"] and ORIGIN in rows["sign_step"]
    assert "image, tabular, timeseries" in rows["sign_step"]
    assert rows["fgsm"].split()[1:4] == ["evasion", "art,", "torch"] and "dii-hpc" in rows["fgsm"]
    assert "numpy (sign_step)" in next(r for r in res.stdout.splitlines()
                                       if r.startswith("engines"))


def test_audit_attack_runs_the_plugin_and_records_its_metrics(tmp_path: Path,
                                                              plugin_env: dict[str, str]) -> None:
    """One signed step of eps on the model's own gradient is ART's FGSM with that eps (no
    random start): the same robust accuracy, within one sample of the 60 for float rounding."""
    from dii_hpc.records import audit
    from dii_hpc.store.store import Store

    (tmp_path / "a.yaml").write_text(CONFIG)
    res = dii_hpc(tmp_path, plugin_env, "audit", "attack", "sign_step", "--config", "a.yaml",
                  "--param", "eps=0.05", "--json", "plug.json", "--junit", "plug.xml",
                  "--fail-under", "clean_accuracy=0.5")
    assert res.returncode == 0, res.stderr
    out = json.loads((tmp_path / "plug.json").read_text())
    assert (out["attack"], out["threat"], out["level"]) == ("sign_step", "evasion", "II")
    record = out["attacks"][0]
    assert (record["engine"], record["params"]) == ("numpy", {"eps": 0.05})
    m = out["metrics"]
    assert m["robust_accuracy"] < m["clean_accuracy"] and m["clean_accuracy"] >= 0.5
    cases = ElementTree.parse(tmp_path / "plug.xml").getroot().iter("testcase")
    assert "sign_step" in {case.get("name") for case in cases}

    stored = audit.of(Store(tmp_path / "store").run(out["run_id"]))
    assert stored is not None and stored.attack == "sign_step"
    assert stored.metric("robust_accuracy") == m["robust_accuracy"]

    ref = dii_hpc(tmp_path, plugin_env, "audit", "attack", "fgsm", "--config", "a.yaml",
                  "--param", "eps=0.05", "--json", "art.json", "--no-store")
    assert ref.returncode == 0, ref.stderr
    art = json.loads((tmp_path / "art.json").read_text())["metrics"]
    assert art["clean_accuracy"] == m["clean_accuracy"]
    assert abs(art["robust_accuracy"] - m["robust_accuracy"]) <= 1 / 60 + 1e-12
