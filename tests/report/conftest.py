"""A small but complete store, written with the real tracking API, for the report tests."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

EVIL = "<script>alert(1)</script>"


def tiny_png(path: Path, shade: int) -> Path:
    """An 8x8 grey PNG without any imaging library."""
    raw = b"".join(b"\x00" + bytes([(shade + 9 * (x + y)) % 256 for x in range(8)]) for y in range(8))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(
            ">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    head = struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def _train(store, i: int, tmp: Path, **extra) -> str:
    import dii_hpc

    lr = [0.1, 0.03, 0.01, 0.003, 0.001][i % 5]
    params = {"lr": lr, "depth": 2 + i % 3, "optimizer": ["sgd", "adam"][i % 2], **extra}
    with dii_hpc.start_run("digits", params=params, store=store) as run:
        for step in range(30):
            loss = 2.0 / (1 + step * lr * 10) + 0.01 * i
            run.log_metrics({"loss": loss, "acc": 1 - loss / 2.2, "val_acc": 0.95 - loss / 2.5},
                            step=step)
        (run.dir / "logs").mkdir(exist_ok=True)
        (run.dir / "logs" / "stdout.txt").write_text(
            "".join(f"epoch {s} loss {2.0 / (1 + s):.3f}\n" for s in range(300)))
        run.log_artifact(tiny_png(tmp / f"sample{i}.png", 30 * i), name="sample.png")
        run.set_manifest({"git": {"commit": "abc123", "dirty": False},
                          "packages": {"torch": "2.13.0"}, "config": {"lr": lr}})
        return run.id


def build_demo_store(root: Path) -> dict[str, str]:
    """Train, failed, audit, drift and inference runs, plus one with hostile names."""
    import dii_hpc
    from dii_hpc.store.store import Store

    store = Store(root / "store")
    tmp = root / "files"
    tmp.mkdir(parents=True, exist_ok=True)
    ids = {f"train{i}": _train(store, i, tmp) for i in range(6)}
    ids["evil_param"] = _train(store, 7, tmp, note=EVIL)
    with dii_hpc.start_run("digits", params={"lr": 0.5}, store=store) as run:
        run.set_tags({"name": EVIL})
        ids["evil"] = run.id
        run.log_metric("loss", 9.0, step=0)
        (run.dir / "logs").mkdir(exist_ok=True)
        (run.dir / "logs" / "stderr.txt").write_text(f"warning {EVIL}\n")
    with pytest.raises(RuntimeError), dii_hpc.start_run("digits", store=store) as run:
        ids["failed"] = run.id
        run.log_metric("loss", 3.0, step=0)
        raise RuntimeError("diverged at step 1")
    store.update_run(ids["train0"], slurm={  # the shape dii_hpc.slurm.sacct joins in
        "job_id": "4242_0", "array_job_id": "4242", "array_task_id": 0, "state": "COMPLETED",
        "exit_code": 0, "elapsed_s": 61.0, "cpu_time_s": 200.5, "max_rss_mb": 812.0,
        "req_tres": {"cpu": 4, "mem": 4096, "node": 1}, "alloc_tres": {"cpu": 4, "mem": 4096,
                                                                      "node": 1, "gpu": 1},
        "node_list": "node01", "partition": "debug", "queue_wait_s": 3.0})
    ids["audit"] = _audit(store, tmp)
    for day, share in enumerate([0.0, 0.25, 0.75]):
        with dii_hpc.start_run("monitoring", kind="drift", tags={"monitor": "nightly"},
                               store=store) as run:
            run.log_metric("share_drifted", share, step=day)
            run.set_section("drift", _drift(share))
            ids[f"drift{day}"] = run.id
    with dii_hpc.start_run("monitoring", kind="inference", store=store) as run:
        run.set_section("inference", {"n": 1000, "latency_ms": {"p50": 3.1, "p99": 9.8}})
        ids["inference"] = run.id
    return ids


def _audit(store, tmp: Path) -> str:
    import dii_hpc

    with dii_hpc.start_run("digits", kind="audit", tags={"name": "evasion suite"},
                           store=store) as run:
        names = []
        for j in range(3):
            name = f"examples/adv_{j}.png" if j else "adv_0.png"  # plain and nested names
            run.log_artifact(tiny_png(tmp / f"adv{j}.png", 60 * j), name=name)
            names.append(f"adv_{j}.png")
        run.set_section("audit", {
            "level": "I", "threat": "evasion", "task": "image_classification",
            "suite": "evasion-standard", "grade": "C",
            "summary": f"Robust accuracy falls to 0.41 at eps=0.1. {EVIL}",
            "metrics": {"clean_accuracy": 0.97, "robust_accuracy": 0.41},
            "attacks": [
                {"name": "FGSM", "params": {"eps": 0.1}, "metrics": {"robust_accuracy": 0.52},
                 "intervals": {"robust_accuracy": [0.47, 0.57],
                               "attack_success_rate": [0.11, 0.22]},  # no value: not shown
                 "time_s": 1.2},
                {"name": "PGD", "params": {"eps": 0.1, "max_iter": 20},
                 "metrics": {"robust_accuracy": 0.41, "attack_success_rate": 0.55},
                 "intervals": {"robust_accuracy": [0.36, 0.46],
                               "attack_success_rate": [0.51, 0.59]},
                 "time_s": 8.4},
            ],
            "curves": {"robustness": [{"eps": e, "robust_accuracy": 0.97 - 5 * e}
                                      for e in (0.0, 0.02, 0.05, 0.1)],
                       "roc": {"fpr": [0, 0.1, 0.3, 1], "tpr": [0, 0.6, 0.85, 1], "auc": 0.83},
                       "backdoor": [{"fraction": f, "attack_success_rate": 4 * f,
                                     "clean_accuracy": 0.97 - f} for f in (0.01, 0.05, 0.1)]},
            "sanity": [{"flag": "gradient_masking", "ok": True, "detail": "PGD <= FGSM"},
                       {"flag": "eps_monotonic", "ok": False, "detail": "non-monotone at 0.05"}],
            "examples": names,
            "config": {"suite": "evasion-standard", "model": "demo", "n_samples": 200},
            "n_samples": 200,
        })
        return run.id


def _drift(share: float) -> dict:
    feats = {f"pixel_{k}": {"test": "ks", "statistic": 0.1 + share * k / 4,
                            "p_value": max(0.0, 0.5 - share * k / 3), "threshold": 0.05,
                            "drift": share * k / 3 > 0.45, "type": "numerical"} for k in range(4)}
    return {"monitor": "nightly", "drift": share > 0.5, "rule": "share_drifted > 0.5",
            "share_drifted": share, "n_reference": 500, "n_current": 200, "features": feats,
            "multivariate": {"mmd": 0.01 + share}, "performance": {}}


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(store root, run ids by role); built once per session, then only read."""
    root = tmp_path_factory.mktemp("report-store")
    ids = build_demo_store(root)
    return root / "store", ids


def experiment_data(site: Path, experiment: str) -> tuple[dict, list[dict], list[dict]]:
    """(the experiment page's JSON blob, its rows as dicts by column, each row's curves) read
    back from a built site's data files (dii_hpc/report/data.py)."""
    import json
    import re

    from dii_hpc.report import data
    from dii_hpc.report.pages import experiment_path

    page = (site / experiment_path(experiment)).read_text()
    blob = json.loads(re.search(r'id="experiment-data">(.*?)</script>', page, re.S).group(1))
    rows, curves = [], []
    for k in range(len(blob["pages"])):
        got = data.read_js((site / data.rows_path(experiment, k)).read_text())
        rows += [dict(zip(blob["columns"], r, strict=True)) for r in got]
        curves += data.read_js((site / data.hist_path(experiment, k)).read_text())["c"]
    return blob, rows, curves
