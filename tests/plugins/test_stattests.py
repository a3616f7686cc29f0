"""A stat test from an installed plug-in (entry point ``dii_hpc.stattests`` only): listed with its
origin by `dii-hpc drift tests`, used by `dii-hpc drift check --test COL=cvm`, judged by its
record's threshold or the `cvm_threshold` of a drift config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DII_HPC = str(Path(sys.executable).with_name("dii-hpc"))
ORIGIN = "dii-hpc-example-plugin 0.1.0 (dii_hpc_example_plugin.stattest:CRAMER_VON_MISES)"


def dii_hpc(tmp_path: Path, extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **extra_env, "DII_HPC_STORE": str(tmp_path / "store")}
    return subprocess.run([DII_HPC, *args], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300, check=False)


def test_drift_tests_lists_the_plugin_with_its_origin(tmp_path: Path,
                                                      plugin_env: dict[str, str]) -> None:
    res = dii_hpc(tmp_path, plugin_env, "drift", "tests")
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line for line in res.stdout.splitlines()[1:]}
    assert "ks" in rows and "cvm" in rows
    assert rows["cvm"].split()[1:5] == ["numeric", "p", "<", "0.01"] and ORIGIN in rows["cvm"]
    assert rows["ks"].split()[1:6] == ["numeric", "p", "<", "0.05", "dii-hpc"]


def test_drift_check_uses_the_plugin_test(tmp_path: Path, plugin_env: dict[str, str]) -> None:
    from scipy import stats

    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 400), "y": rng.normal(0, 1, 400)})
    cur = pd.DataFrame({"x": rng.normal(0, 1.6, 400), "y": rng.normal(0, 1, 400)})  # x widens
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    check = ["drift", "check", "--reference", "ref.csv", "--current", "cur.csv", "--no-store",
             "--test", "x=cvm", "--test", "y=cvm", "--drift-share", "0.5", "--json", "out.json"]
    res = dii_hpc(tmp_path, plugin_env, *check)
    assert res.returncode == 1 and "drift found" in res.stderr, res.stderr
    doc = json.loads((tmp_path / "out.json").read_text())
    x, y = doc["features"]["x"], doc["features"]["y"]
    assert (x["test"], x["threshold"], x["drift"], y["drift"]) == ("cvm", 0.01, True, False)
    expect = stats.cramervonmises_2samp(ref["x"], cur["x"])
    assert x["statistic"] == pytest.approx(expect.statistic, rel=1e-9)
    assert x["p_value"] == pytest.approx(expect.pvalue, rel=1e-6, abs=1e-12)
    # x's widening also puts values out of the reference's range: that data-quality rule (#30)
    # is off here, this test is about the plug-in's threshold
    (tmp_path / "drift.yaml").write_text(f"drift:\n  cvm_threshold: {x['p_value'] / 2}\n"
                                         "  quality_off: [out_of_range]\n")
    res = dii_hpc(tmp_path, plugin_env, *check, "--config", "drift.yaml")
    assert res.returncode == 0, res.stderr  # judged by the config's threshold now
    res = dii_hpc(tmp_path, {}, *check)  # without the plug-in the name is refused at load
    assert res.returncode == 2 and "--test cvm: not a drift test (choose from " in res.stderr
