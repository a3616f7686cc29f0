"""predict in this process (debug executor) and with local processes: exact outputs, manifest,
reruns that skip complete shards, a killed shard recomputed alone, inputs of every kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dii_hpc import Store
from dii_hpc.inference import demo, output
from dii_hpc.inference.job import PredictRequest, predict
from tests.conftest import run_cli
from tests.inference.conftest import MODEL, plain_loop


def _req(data: str, out: Path, **kw: object) -> PredictRequest:
    return PredictRequest(model=kw.pop("model", MODEL), data=data, out=str(out),
                          executor=kw.pop("executor", "debug"), **kw)  # type: ignore[arg-type]


def test_sharded_run_equals_plain_loop_and_rerun_recomputes_only_killed_shard(
        store_path: Path, tmp_path: Path, csv_data: tuple[str, np.ndarray]) -> None:
    glob, x = csv_data
    out = tmp_path / "preds"
    store = Store()
    sec = predict(_req(glob, out, shards=4, batch_size=500), store)
    assert sec["shards"] == 4 and sec["computed"] == [0, 1, 2, 3] and sec["skipped"] == []
    got = output.read_outputs(out)
    ref = plain_loop(x, 500)
    assert np.array_equal(got["output"], ref)
    assert np.array_equal(got["prediction"], ref.argmax(axis=1))

    man = output.read_manifest(out)
    assert man["shards"] == [[0, 1500], [1500, 3000], [3000, 4500], [4500, 6000]]
    assert [Path(d["path"]).name for d in man["data"]] == ["part-000.csv", "part-001.csv", "part-002.csv"]
    from dii_hpc.store.blobs import file_sha256

    assert all(d["sha256"] == file_sha256(d["path"])[0] for d in man["data"])
    assert len(man["model"]["weights_sha256"]) == 64 and man["runs"] == [sec["run_id"]]

    rec = store.run(sec["run_id"])
    assert rec["kind"] == "inference" and rec["status"] == "FINISHED"
    inf = rec["inference"]
    for key in ("model", "model_run", "rows", "rows_per_s", "shards", "out", "monitor", "last_drift"):
        assert key in inf
    assert inf["rows"] == 6000 and inf["rows_per_s"] > 0
    for key in ("rows_per_s", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "peak_rss_mb"):
        assert key in rec["metrics"], key
    assert list(store.metric_history(sec["run_id"], "shard_errors")["value"]) == [0.0] * 4

    # everything done: a rerun computes nothing
    again = predict(_req(glob, out, shards=4, batch_size=500), store)
    assert again["computed"] == [] and again["skipped"] == [0, 1, 2, 3]

    # "kill" shard 2: its chunk and marker go; the rerun computes it alone
    markers = {i: output.done_path(out, i).stat().st_mtime_ns for i in (0, 1, 3)}
    for name in ("output", "prediction"):
        files = output.chunk_files(out, name, 2)
        assert files
        for f in files:
            f.unlink()
    output.done_path(out, 2).unlink()
    third = predict(_req(glob, out, shards=4, batch_size=500), store)
    assert third["computed"] == [2] and third["skipped"] == [0, 1, 3]
    assert {i: output.done_path(out, i).stat().st_mtime_ns for i in (0, 1, 3)} == markers
    assert np.array_equal(output.read_outputs(out)["output"], ref)


def test_local_processes_via_cli_match_in_process_run(store_path: Path, tmp_path: Path) -> None:
    paths = demo.write_data(tmp_path / "pq", 3000, files=2, fmt="parquet", seed=2)
    glob = str(tmp_path / "pq" / "*.parquet")
    res = run_cli("predict", "--model", MODEL, "--data", glob, "--out", str(tmp_path / "a"),
                  "--executor", "local", "--shards", "2", "--batch-size", "256",
                  "--experiment", "deploy")
    assert res.returncode == 0, res.stderr
    assert "2 computed" in res.stdout and "rows/s" in res.stdout
    predict(_req(glob, tmp_path / "b", shards=1, batch_size=256), Store())
    a, b = output.read_outputs(tmp_path / "a"), output.read_outputs(tmp_path / "b")
    assert np.array_equal(a["output"], b["output"]) and len(paths) == 2
    runs = Store().runs(experiment="deploy", kind="inference")
    assert len(runs) == 1 and runs.iloc[0]["status"] == "FINISHED"
    rec = Store().run(runs.iloc[0]["run_id"])
    hosts = {output.done(tmp_path / "a", i)["pid"] for i in (0, 1)}
    assert len(hosts) == 2 and rec["inference"]["executor"] == "local"


def test_npz_loader_and_predict_object_inputs(store_path: Path, tmp_path: Path) -> None:
    demo.write_data(tmp_path / "z", 1000, files=2, fmt="npz", seed=3)
    sec = predict(_req(str(tmp_path / "z" / "*.npz"), tmp_path / "o1", shards=3, batch_size=100),
                  Store())
    x = demo.make_rows(1000, seed=3)
    assert np.array_equal(output.read_outputs(tmp_path / "o1")["output"], plain_loop(x, 100))
    assert sec["shards"] == 3

    loader = "dii_hpc.inference.demo:DemoLoader"
    predict(_req(loader, tmp_path / "o2", shards=2, batch_size=1000), Store())
    got = output.read_outputs(tmp_path / "o2")["output"]
    assert np.array_equal(got, plain_loop(demo.make_rows(10_000, 0), 1000))

    predict(_req(str(tmp_path / "z" / "*.npz"), tmp_path / "o3", model="dii_hpc.inference.demo:threshold",
                 shards=2), Store())
    got = output.read_outputs(tmp_path / "o3")
    assert list(got) == ["prediction"] and np.array_equal(got["prediction"], (x.sum(1) > 0).astype(int))


def test_weights_from_training_run(store_path: Path, tmp_path: Path,
                                   csv_data: tuple[str, np.ndarray]) -> None:
    import torch

    import dii_hpc

    glob, x = csv_data
    weights = tmp_path / "model.pt"
    torch.save(demo.mlp(seed=7).state_dict(), weights)
    with dii_hpc.start_run("train-demo") as run:
        sha = run.log_artifact(weights)
    store = Store()
    sec = predict(_req(glob, tmp_path / "o", from_run=run.id, shards=2, batch_size=500), store)
    assert np.array_equal(output.read_outputs(tmp_path / "o")["output"], plain_loop(x, 500, seed=7))
    man = output.read_manifest(tmp_path / "o")
    assert man["model"]["model_run"] == run.id and man["model"]["weights_sha256"] == sha
    rec = store.run(sec["run_id"])
    assert rec["parent_run"] == run.id and rec["inference"]["model_run"] == run.id


@pytest.mark.parametrize("rows,shards,batch,expect", [
    (200_000, 8, 1024, ([[0, 25600], [25600, 51200]], 1024)),
    (5000, 2, 1000, ([[0, 3000], [3000, 5000]], 1000)),
    (2000, 4, 4096, ([[0, 500], [500, 1000]], 500)),
])
def test_layout_aligns_shards_on_batches(rows: int, shards: int, batch: int, expect: tuple) -> None:
    ranges, b = output.layout(rows, shards, batch)
    assert ranges[:2] == expect[0] and b == expect[1]
    assert ranges[-1][1] == rows and all(r[0] % b == 0 for r in ranges)


def test_failed_shard_exits_3_and_rerun_computes_only_it(
        store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dii_hpc.cli.app import main

    mod = tmp_path / "flaky_model.py"
    flag = tmp_path / "fail"
    mod.write_text(
        "import numpy as np\nfrom pathlib import Path\n\n"
        "class Flaky:\n    input_columns = [f'f{i}' for i in range(20)]\n\n"
        "    def predict(self, x):\n"
        f"        if Path({str(flag)!r}).exists() and (x[:, 0] == 99).any():\n"
        "            raise ValueError('row with f0=99 is poisoned')\n"
        "        return x.sum(axis=1)\n\n"
        "def build():\n    return Flaky()\n")
    x = demo.make_rows(300, seed=4)
    x[150, 0] = 99.0
    np.savez(tmp_path / "d.npz", x=x, columns=np.array(demo.COLUMNS))
    flag.touch()
    args = ["predict", "--model", f"{mod}:build", "--data", str(tmp_path / "d.npz"), "--out",
            str(tmp_path / "o"), "--executor", "debug", "--shards", "3", "--batch-size", "50"]
    assert main(args) == 3
    err = capsys.readouterr().err.strip()
    assert "1 of 3 shard(s) failed (1); shard 1: ValueError: row with f0=99 is poisoned" in err
    assert len(err.splitlines()) == 1
    store = Store()
    rid = store.runs(kind="inference").iloc[0]["run_id"]
    assert store.run(rid)["status"] == "FAILED"
    assert list(store.metric_history(rid, "shard_errors")["value"]) == [0.0, 1.0, 0.0]
    flag.unlink()
    assert main(args) == 0
    assert "1 computed, 2 already done" in capsys.readouterr().out
    assert np.allclose(output.read_outputs(tmp_path / "o")["prediction"], x.sum(axis=1))


def test_input_scan_cache_sees_rewritten_files(tmp_path: Path) -> None:
    from dii_hpc.inference import inputs

    demo.write_data(tmp_path / "d", 100, fmt="csv", seed=1)
    cache = tmp_path / "cache.json"
    first = inputs.resolve(str(tmp_path / "d" / "*.csv"), cache)
    assert cache.is_file() and inputs.resolve(str(tmp_path / "d" / "*.csv"), cache) == first
    demo.write_data(tmp_path / "d", 100, fmt="csv", seed=2)  # same name and size, new content
    again = inputs.resolve(str(tmp_path / "d" / "*.csv"), cache)
    assert again[0].sha256 != first[0].sha256 and again[0].rows == 100
